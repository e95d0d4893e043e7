"""What the benchmarks score and how: MNIST's test digits tiled to any count, written as a folder of
PNGs or a memory-mapped .npy, `mnist-ann predict` as a user types it, and a command timed. Shared
by bench.py, cluster_bench.py and monitoring_bench.py."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def predict_command(inputs: Path, output: Path, *extra: str) -> list[str]:
    """`mnist-ann predict` with the pipeline's exported model, as a user types it."""
    model = REPO / "models" / "model.onnx"
    return [str(BIN / "mnist-ann"), "predict", "--model", str(model), str(inputs), "--output", str(output), *extra]


def test_images(count: int):
    """`count` of MNIST's test digits (uint8, 28x28), the 10,000 repeated as often as needed."""
    import numpy as np

    from mnist_ann.core.npy import load_npz

    x_test = load_npz(REPO / "data" / "raw" / "mnist.npz")["x_test"]
    return np.concatenate([x_test] * -(-count // len(x_test)))[:count]


def write_pngs(folder: Path, count: int) -> None:
    """A new folder of `count` PNGs, one test digit each, in name order."""
    from PIL import Image

    folder.mkdir()
    for i, digit in enumerate(test_images(count)):
        Image.fromarray(digit).save(folder / f"{i:06d}.png")


def write_tiled_npy(path: Path, count: int) -> None:
    """An .npy of `count` test digits, written through a memory map 100k at a time, so that a
    1M-image file (784 MB) never sits in this process's memory."""
    import numpy as np

    tiled = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, 28, 28))
    block = test_images(min(count, 100_000))
    for start in range(0, count, len(block)):
        tiled[start : start + len(block)] = block[: count - start]
    tiled.flush()
    del tiled


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def timed_in_turn(
    commands: dict[str, list[str]], cwd: Path, env: dict[str, str], repeats: int
) -> dict[str, list[float]]:
    """Each command's seconds over `repeats` rounds, the commands taking turns within a round, after
    one warm-up run each (the file cache, the imports)."""
    for command in commands.values():
        timed(command, cwd, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(timed(command, cwd, env)[0])
    return times


def summary(seconds: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(seconds), 2),
        "min_s": round(min(seconds), 2),
        "runs_s": [round(s, 2) for s in seconds],
    }
