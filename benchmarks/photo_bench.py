"""Row 13 of `make bench` (issue 41): what preparing phone-size photos costs, now that the light is
flattened, the page's lines and marks taken out and a number cut into its digits.

- 13a: 200 photos of 1000x750 (JPEG, quality 90), each a number of 2-4 MNIST test digits written
  about five times MNIST's size on lit paper: `mnist-ann predict` (one digit per picture, whole
  process, its decoding workers) against a loop that only decodes them with Pillow (whole process
  too, one core): what the preparation adds to reading the files.
- 13b: the same photos with `--digits many` against 13a.
- 13c: 1,000 photos of 200x150, as 13a.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

from workload import REPO, predict_command, summary, timed_in_turn

SIZES = {"large": ((1000, 750), 200), "small": ((200, 150), 1000)}  # picture size, photos


def write_photos(folder: Path, size: tuple[int, int], count: int) -> None:
    """`count` JPEG photos of numbers of MNIST test digits, `size` (width, height) each."""
    sys.path.insert(0, str(REPO / "src"))
    import numpy as np
    from PIL import Image

    from mnist_ann.core.npy import load_npz
    from mnist_ann.training.evaluation.photos import on_paper
    from mnist_ann.training.evaluation.written_numbers import number_ink

    digits = load_npz(REPO / "data" / "raw" / "mnist.npz")["x_test"]
    rng = np.random.default_rng(13)
    folder.mkdir()
    width, height = size
    for i in range(count):
        ink = number_ink(list(digits[rng.integers(0, len(digits), int(rng.integers(2, 5)))]), rng)
        scale = min(0.8 * width / ink.shape[1], 0.6 * height / ink.shape[0])
        drawn = Image.fromarray(ink, "F").resize((round(ink.shape[1] * scale), round(ink.shape[0] * scale)))
        page = np.zeros((height, width), np.float32)
        top, left = (height - drawn.height) // 2, (width - drawn.width) // 2
        page[top : top + drawn.height, left : left + drawn.width] = np.asarray(drawn)
        photo = np.rint(on_paper(page, rng)).astype(np.uint8)
        Image.fromarray(photo).save(folder / f"{i:05d}.jpg", quality=90)


def bench_photos(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    results = {}
    for name, (size, count) in SIZES.items():
        folder = workdir / f"photos-{name}"
        write_photos(folder, size, count)
        decode_loop = [
            sys.executable,
            "-c",
            "import os, sys, numpy as np\nfrom PIL import Image\nd = sys.argv[1]\n"
            "pictures = [np.asarray(Image.open(os.path.join(d, f)).convert('L')) for f in sorted(os.listdir(d))]",
            str(folder),
        ]
        commands = {
            "decode_loop": decode_loop,
            "predict_one": predict_command(folder, workdir / "photos.csv"),
            "predict_many": predict_command(folder, workdir / "photos.csv", "--digits", "many"),
        }
        times = timed_in_turn(commands, workdir, env, repeats)
        medians = {key: statistics.median(values) for key, values in times.items()}
        shutil.rmtree(folder)
        results[name] = {
            "size": f"{size[0]}x{size[1]}",
            "photos": count,
            **{key: summary(values) for key, values in times.items()},
            "one_per_s": round(count / medians["predict_one"], 1),
            "many_per_s": round(count / medians["predict_many"], 1),
            "one_vs_decode": round(medians["predict_one"] / medians["decode_loop"], 2),
            "many_vs_one": round(medians["predict_many"] / medians["predict_one"], 2),
        }
    return results


def photo_rows(k: dict) -> list[tuple[str, str, str, str]]:
    large, small = k["large"], k["small"]
    return [
        (
            f"13a. {large['photos']} phone-size photos ({large['size']} JPEG, a number on lit paper): "
            "`mnist-ann predict` (whole process) vs decoding them with Pillow in a loop",
            f"{large['predict_one']['median_s']} s ({large['one_per_s']} photos/s)",
            f"{large['decode_loop']['median_s']} s",
            f"**{large['one_vs_decode']}x** the decoding's time",
        ),
        (
            "13b. the same photos read as numbers (`--digits many`) vs one digit per picture (13a)",
            f"{large['predict_many']['median_s']} s ({large['many_per_s']} photos/s)",
            f"{large['predict_one']['median_s']} s",
            f"**{large['many_vs_one']}x**",
        ),
        (
            f"13c. {small['photos']} photos of {small['size']}, as 13a; `--digits many`: "
            f"{small['predict_many']['median_s']} s",
            f"{small['predict_one']['median_s']} s ({small['one_per_s']} photos/s)",
            f"{small['decode_loop']['median_s']} s",
            f"**{small['one_vs_decode']}x** (many: {small['many_vs_one']}x of one)",
        ),
    ]
