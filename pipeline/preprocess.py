"""preprocess stage: raw uint8 MNIST -> model input, one .npy per array: x_* float32 (N, 784) in
[0, 1], y_* uint8 labels. Optionally keeps only the first N images of each split, for smoke runs."""

from __future__ import annotations

from stage_start import start_stage

start_stage()  # first: Ctrl-C during the imports below exits 130, no traceback

import argparse
import logging
from collections.abc import Sequence

from mnist_ann.core.errors import ParamsError
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.npy import load_npz
from mnist_ann.core.process import run_main
from mnist_ann.training.data import check_layout, first_or_all, save_split
from mnist_ann.training.harness import stage
from mnist_ann.training.params import PreprocessParams

log = logging.getLogger("preprocess")


def main(argv: Sequence[str] | None = None) -> None:
    own = {"input": "raw Keras-layout mnist.npz", "output": "folder for the .npy files"}
    with stage("preprocess", __doc__, argv, (), own=own) as run:
        _preprocess(run.args, run.params.preprocess)


def _preprocess(args: argparse.Namespace, params: PreprocessParams) -> None:
    raw = load_npz(args.input)
    check_layout(raw)
    for split, size in (("train", params.train_size), ("test", params.test_size)):
        available = len(raw[f"y_{split}"])
        if size > available:
            raise ParamsError(
                f"{args.params}: preprocess.{split}_size is {size}, but only {available} {split} images exist"
            )
        x, y = preprocess(first_or_all(raw[f"x_{split}"], size)), first_or_all(raw[f"y_{split}"], size)
        save_split(args.output, split, x, y)
        log.info("%s: x %s %s, y %s %s", split, x.shape, x.dtype, y.shape, y.dtype)


if __name__ == "__main__":
    run_main(main)
