"""The figures docs/predict.md quotes for sets no pipeline file holds: digits as people print, scan,
crop and photograph them, and numbers read with `--digits many`. Each set is built as the test suite
builds it (tests/helpers.py, the evaluate stage's photos.py and written_numbers.py), saved as files
where predict would read files (odd ones as JPEG, as test_make_robust saves them), and read by the
Predictor, predict's own preparation and scoring. Written to docs/figures/reading.json, which
tests/test_docs_figures.py holds the page to (and test_make_robust, for the two sets it measures).

    python tools/reading_figures.py --model default=models/model.onnx \\
        --model robust=models:/mnist-ann@champion     # MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db

Built from the pipeline's data/processed (run `dvc repro` first). About two minutes a model on two
cores."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the sets' builders are the test suite's

OUTPUT = REPO / "docs" / "figures" / "reading.json"
PHOTO_SEED = 24  # test_make_robust's seed for the two photographed sets: the same pictures
SCAN_SEED, CROP_SEED, NUMBER_SEED = 42, 42, 42
PHOTOS, FONT_SETS, NUMBERS = 200, 1000, 500
PAPERS = ("clean", "plain", "ruled", "squared")


def digit_sets(x_test: np.ndarray, y_test: np.ndarray) -> dict[str, tuple[list[Any], list[int]]]:
    """The single-digit sets, by name: (Pillow images, true digits)."""
    from helpers import font_crops, font_photos, font_scans, mnist_photos
    from mnist_ann.training.evaluation.robustness import as_digits

    sets = {"mnist_photos": (mnist_photos(as_digits(x_test), PHOTOS, seed=PHOTO_SEED), list(y_test[:PHOTOS]))}
    for name, built in (
        ("font_photos", font_photos(PHOTOS, seed=PHOTO_SEED)),
        ("font_crops", font_crops(FONT_SETS, seed=CROP_SEED)),
        ("font_scans", font_scans(FONT_SETS, seed=SCAN_SEED)),
    ):
        sets[name] = ([image for _, image in built], [digit for digit, _ in built])
    return sets


def number_sets(x_test: np.ndarray, y_test: np.ndarray) -> dict[str, tuple[list[Any], list[str]]]:
    """NUMBERS numbers of 2 to 4 of MNIST's test digits (written_numbers.py: 0.8-1.3 of MNIST's size,
    slanted, 1-8 pixels apart) per paper: dark on white (clean), or photographed on plain, ruled or
    squared paper, as tests/test_number_split.py builds them. (Pillow images, the numbers' text)."""
    from PIL import Image

    from mnist_ann.training.evaluation.photos import lined, on_paper
    from mnist_ann.training.evaluation.robustness import as_digits
    from mnist_ann.training.evaluation.written_numbers import number_ink

    digits, sets = as_digits(x_test), {}
    for paper in PAPERS:
        rng, pictures, texts = np.random.default_rng(NUMBER_SEED), [], []
        for _ in range(NUMBERS):
            chosen = rng.integers(0, len(digits), int(rng.integers(2, 5)))
            ink = number_ink(list(digits[chosen]), rng)
            if paper in ("ruled", "squared"):
                ink = lined(ink, rng, paper, 0.6 * ink.shape[0])
            picture = 255 - 230 * ink if paper == "clean" else on_paper(ink, rng)
            pictures.append(Image.fromarray(np.rint(picture).astype(np.uint8)))
            texts.append("".join(str(int(d)) for d in y_test[chosen]))
        sets[paper] = (pictures, texts)
    return sets


def as_files(pictures: list[Any], folder: Path) -> list[Path]:
    """The pictures saved as predict's users save them: even ones PNG, odd ones JPEG of quality 85."""
    paths = []
    for i, picture in enumerate(pictures):
        path = folder / (f"{i:04d}.jpg" if i % 2 else f"{i:04d}.png")
        picture.save(path, **({"quality": 85} if i % 2 else {}))
        paths.append(path)
    return paths


def read_right(predict: Callable[[list[Any]], list[Any]], pictures: list[Any], truth: list[Any]) -> float:
    """The share of `pictures` `predict` reads as `truth`; a refused picture is wrong."""
    answers = predict(pictures)
    return sum(answer.label == want for answer, want in zip(answers, truth)) / len(truth)


def measure(model: str, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
    """Every figure of one model."""
    from mnist_ann.predict.predictor import Predictor

    one, many = Predictor(model), Predictor(model, digits="many")
    figures: dict[str, Any] = {"model": model, "model_sha256": one.named["sha256"]}
    if Path(model).is_file():  # the pipeline's: dvc.lock records its md5, which the docs test compares
        figures["model_md5"] = hashlib.md5(Path(model).read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory(prefix="reading-") as scratch:
        for name, (pictures, digits) in digit_sets(x_test, y_test).items():
            folder = Path(scratch) / name
            folder.mkdir()
            figures[name] = round(read_right(one.predict, as_files(pictures, folder), digits), 4)
    numbers, counted = {}, {}
    for paper, (pictures, texts) in number_sets(x_test, y_test).items():
        answers = many.predict(pictures)
        numbers[paper] = round(sum(a.label == text for a, text in zip(answers, texts)) / len(texts), 4)
        counted[paper] = round(sum(len(a.label or "") == len(text) for a, text in zip(answers, texts)) / len(texts), 4)
    figures["numbers_exact"], figures["numbers_counted"] = numbers, counted
    return figures


def machine() -> str:
    """The CPU this ran on, as the docs name it (its model as run records name it)."""
    from mnist_ann.training.provenance import cpu_model

    return f"{os.cpu_count()}-core {cpu_model()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH or NAME=models:/... (repeatable)")
    parser.add_argument("--data", default=str(REPO / "data" / "processed"))
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    from mnist_ann.core.files import write_json
    from mnist_ann.training.data import load_split

    x_test, y_test = load_split(args.data, "test")
    output = Path(args.output)
    found = json.loads(output.read_text()) if output.is_file() else {}
    for named in args.model:
        name, _, model = named.partition("=")
        print(f"measuring {name} ({model})", file=sys.stderr)
        found[name] = measure(model, x_test, y_test)
    found["measured"] = {"machine": machine(), "date": datetime.date.today().isoformat()}
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
