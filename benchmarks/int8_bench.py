"""Row 12 of `make bench` (issue 40): the int8 model the export writes against the float model, and
the command against the runtime.

- 12a: in-process onnxruntime through predict's own session (core/onnx_model.py: the same options,
  threads and call path), 100,000 MNIST-form images in calls of 8,192 (predict's batch), the two
  models alternating; with the instruction sets of the machine named, since the int8 kernels gain
  most where the CPU has VNNI.
- 12b: the same two models through `mnist-ann predict` on an .npy of 1,000,000 images to Parquet,
  whole process (the int8 file against the float one, by `--model`).
- 12c/12d: `mnist-ann predict` (float model, whole process, one run each time) on 1,000,000 and
  100,000 images of an .npy to Parquet against in-process onnxruntime on the same model and batch
  (a plain session, as row 2's; the pixels prepared outside the timing).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from workload import REPO, predict_command, summary, test_images, timed, write_tiled_npy

BATCH = 8192  # predict's default (predict/settings.py)


def bench_int8(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    sys.path.insert(0, str(REPO / "src"))
    import numpy as np

    from mnist_ann.core.mnist import preprocess
    from mnist_ann.core.onnx_model import OnnxModel
    from mnist_ann.training.provenance import machine_description

    models = {
        "float": OnnxModel(REPO / "models" / "model.onnx"),
        "int8": OnnxModel(REPO / "models" / "int8" / "model.int8.onnx"),
    }
    pixels = preprocess(test_images(100_000))
    for model in models.values():
        model.predict(pixels[:BATCH])
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(3 * repeats):  # short runs on a shared machine: many, alternating
        for name, model in models.items():
            started = time.perf_counter()
            for start in range(0, len(pixels), BATCH):
                model.predict(pixels[start : start + BATCH])
            times[name].append(time.perf_counter() - started)
    rates = {name: round(len(pixels) / statistics.median(t)) for name, t in times.items()}
    agree = float(np.mean(models["int8"].predict(pixels).argmax(1) == models["float"].predict(pixels).argmax(1)))

    arrays, small = workdir / "x1m-int8.npy", workdir / "x100k-int8.npy"
    write_tiled_npy(arrays, 1_000_000)
    write_tiled_npy(small, 100_000)
    commands = {
        "float": predict_command(arrays, workdir / "f.parquet"),
        "int8": [*predict_command(arrays, workdir / "i.parquet")],
    }
    model_arg = commands["int8"].index("--model") + 1
    commands["int8"][model_arg] = str(REPO / "models" / "int8" / "model.int8.onnx")
    whole: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        timed(command, workdir, env)
    for _ in range(repeats):
        for name, command in commands.items():
            whole[name].append(timed(command, workdir, env)[0])
    small_command = predict_command(small, workdir / "s.parquet")
    timed(small_command, workdir, env)
    small_times = [timed(small_command, workdir, env)[0] for _ in range(3 * repeats)]
    runtime = _runtime_seconds(arrays, repeats)
    return {
        "runtime_1m_s": round(runtime, 3),
        "runtime_100k_s": round(runtime / 10, 3),
        "predict_100k_parquet": summary(small_times),
        "command_share_1m": round(runtime / statistics.median(whole["float"]), 3),
        "command_share_100k": round(runtime / 10 / statistics.median(small_times), 3),
        "machine": machine_description(),
        "in_process": {name: {**summary(t), "images_per_s": rates[name]} for name, t in times.items()},
        "speedup_in_process": round(rates["int8"] / rates["float"], 2),
        "agreement_on_these_images": round(agree, 4),
        "predict_1m_parquet": {name: summary(t) for name, t in whole.items()},
        "speedup_predict": round(statistics.median(whole["float"]) / statistics.median(whole["int8"]), 2),
    }


def _runtime_seconds(arrays: Path, repeats: int) -> float:
    """In-process onnxruntime on the float model, a plain session, over the 1M images in calls of
    BATCH: the median of `repeats` passes, each the sum of its calls (the pixels prepared untimed)."""
    import numpy as np
    import onnxruntime

    from mnist_ann.core.mnist import preprocess
    from mnist_ann.core.onnx_model import PROVIDERS

    session = onnxruntime.InferenceSession(str(REPO / "models" / "model.onnx"), providers=PROVIDERS)
    images = np.load(arrays, mmap_mode="r")
    passes = []
    for _ in range(repeats):
        spent = 0.0
        for start in range(0, len(images), BATCH):
            pixels = preprocess(np.asarray(images[start : start + BATCH]))
            started = time.perf_counter()
            session.run(None, {"pixels": pixels})
            spent += time.perf_counter() - started
        passes.append(spent)
    return statistics.median(passes)


def int8_rows(k: dict) -> list[tuple[str, str, str, str]]:
    return [
        (
            f"12a. int8 model vs the float model, in-process onnxruntime (predict's session, 2 threads), 100,000 "
            f"images in calls of {BATCH:,}; on {k['machine']}",
            f"{k['in_process']['int8']['images_per_s']:,} img/s",
            f"{k['in_process']['float']['images_per_s']:,} img/s",
            f"**{k['speedup_in_process']}x** (target >= 1.8x with VNNI)",
        ),
        (
            "12b. the same through `mnist-ann predict` (1M-image .npy to Parquet, whole process): int8 vs float",
            f"{k['predict_1m_parquet']['int8']['median_s']} s",
            f"{k['predict_1m_parquet']['float']['median_s']} s",
            f"**{k['speedup_predict']}x**",
        ),
        (
            f"12c. `mnist-ann predict` on 1M images (.npy to Parquet, whole process) vs in-process onnxruntime, the "
            f"same model and batch ({BATCH:,})",
            f"{k['predict_1m_parquet']['float']['median_s']} s",
            f"{k['runtime_1m_s']} s",
            f"**{k['command_share_1m']}** of the runtime's speed (target >= 0.8)",
        ),
        (
            "12d. the same on 100k images",
            f"{k['predict_100k_parquet']['median_s']} s",
            f"{k['runtime_100k_s']} s (a tenth of 12c's)",
            f"**{k['command_share_100k']}** (target >= 0.6)",
        ),
    ]
