"""The `mnist-ann` console script.

  mnist-ann predict --model models/model.onnx INPUT... --output predictions.csv
  mnist-ann check-params [FILE]

Imports stay light: `predict` needs numpy, onnxruntime and Pillow, never TensorFlow.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .entry import EXIT_ERROR, EXIT_OK, run_main

EXIT_SOME_FAILED = 2
log = logging.getLogger("mnist-ann")


def _predict(args: argparse.Namespace) -> int:
    from .batch import BatchSettings, score_inputs
    from .discovery import discover
    from .inference import OnnxModel
    from .predictions import check_output, prediction_file, write_errors

    inputs, missing = discover(args.inputs)
    for source, reason in missing:
        log.warning("skipped %s: %s", source, reason)
    check_output(args.output, [item.path for item in inputs], args.model)
    model = OnnxModel(args.model)
    with (
        prediction_file(args.output, args.format, not args.no_probabilities) as writer,
        _ProgressBar(len(inputs)) as progress,
    ):
        settings = BatchSettings(args.batch_size, args.invert, args.key, args.workers)
        outcome = score_inputs(model, inputs, writer, settings, progress)
    errors = missing + outcome.errors
    errors_file = write_errors(args.output, errors)
    log.info("scored %d images from %d inputs into %s", outcome.scored, len(inputs), args.output)
    if errors:
        log.warning("%d inputs could not be scored; listed in %s", len(errors), errors_file)
        return EXIT_SOME_FAILED
    return EXIT_OK


class _ProgressBar:
    """A progress bar on stderr when it is a terminal (counting images), nothing otherwise."""

    def __init__(self, inputs: int):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            # A terminal that reports no size (0x0: some ptys, CI runners) makes tqdm hide the bar;
            # shutil falls back to 80x24 there.
            columns, lines = shutil.get_terminal_size()
            self.bar = tqdm(
                unit="img", unit_scale=True, file=sys.stderr, desc=f"{inputs} inputs", ncols=columns, nrows=lines
            )

    def __enter__(self):
        return self.bar.update if self.bar is not None else (lambda n: None)

    def __exit__(self, *exc):
        if self.bar is not None:  # (a tqdm bar without a total refuses bool())
            self.bar.close()


def _check_params(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    from .params import load_params

    json.dump(dataclasses.asdict(load_params(args.file)), sys.stdout, indent=2)
    print()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means "some inputs failed", so usage errors exit 1."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mnist-ann",
        description="Tools of the MNIST ANN pipeline. Exit codes: 0 success; 1 error, nothing done "
        "(one line on stderr); 2 predict scored some inputs but not all; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser(
        "predict",
        help="score images and arrays with the exported ONNX model",
        description="Score digits with an ONNX model on the CPU and write one row per image: source "
        "(the file, or path#i for row i of an array file), label, confidence and the ten class "
        "probabilities. Inputs that cannot be scored are skipped, reported on stderr and listed in "
        "<output stem>.errors.csv; the rest are scored.",
        epilog="Inputs: image files Pillow reads (PNG, JPEG, BMP, TIFF, GIF, WebP; any mode; other "
        "sizes resized to 28x28 with the Lanczos filter; animated: first frame), .npy (N, 28, 28) or "
        "(N, 784) of uint8 0-255 or float 0-1, .npz (key x or x_test, or --key), and MNIST's IDX "
        "files (gzipped or not). Folders are walked recursively, hidden files skipped.",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image or array files, or folders of them")
    predict.add_argument("--model", required=True, type=Path, help="the ONNX model (e.g. models/model.onnx)")
    predict.add_argument("--output", required=True, type=Path, help="file to write (written atomically)")
    predict.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="output format (default csv)")
    predict.add_argument("--no-probabilities", action="store_true", help="leave out the ten class probabilities")
    predict.add_argument("--invert", action="store_true", help="inputs are dark digits on a light background (scans)")
    predict.add_argument("--key", help="array to read from .npz files (default: x, else x_test, else the only one)")
    predict.add_argument(
        "--batch-size", type=_positive, default=8192, help="images scored per model call (default 8192)"
    )
    predict.add_argument(
        "--workers",
        type=_positive,
        default=os.cpu_count() or 1,
        help="processes decoding images (default: one per core)",
    )
    predict.set_defaults(handler=_predict)

    check = commands.add_parser(
        "check-params",
        help="check a parameter file and print it resolved",
        description="Load FILE with the same strict rules as every stage (unknown, missing, "
        "mistyped or out-of-range keys fail, naming the key) and print it resolved, as JSON.",
    )
    check.add_argument("file", nargs="?", type=Path, default=Path("params.yaml"), help="default: params.yaml")
    check.set_defaults(handler=_check_params)
    return parser


def _main(argv: Sequence[str] | None) -> int | None:
    args = build_parser().parse_args(argv)
    return args.handler(args)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(_main, argv)


if __name__ == "__main__":
    main()
