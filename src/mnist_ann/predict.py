"""`mnist-ann predict`: its options, and the run that discovers the inputs, scores them with the
ONNX model and writes the predictions and the errors file. Imports stay light until it runs: numpy,
onnxruntime and Pillow then, never TensorFlow."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
from pathlib import Path

from .entry import EXIT_OK
from .preparation import BACKGROUNDS, FRAMINGS
from .progress import ProgressBar

EXIT_SOME_FAILED = 2
DEFAULT_MODEL = Path("models") / "model.onnx"  # the export stage's output, from the repository root
log = logging.getLogger("mnist-ann")


def add_predict_command(commands) -> None:
    """The `predict` subcommand, on the subparsers `commands` of the mnist-ann parser."""
    predict = commands.add_parser(
        "predict",
        help="score images and arrays with the exported ONNX model",
        description="Score digits with an ONNX model on the CPU and write one row per image: source "
        "(the file, or path#i for row i of an array file), label, confidence, the ten class "
        "probabilities and what was done to the image (prepared). Inputs that cannot be scored are "
        "skipped, reported on stderr and listed in <output stem>.errors.csv; the rest are scored.",
        epilog="Inputs: image files Pillow reads (PNG, JPEG, BMP, TIFF, GIF, WebP; any mode and size; "
        "animated: first frame), .npy (N, 28, 28) or (N, 784) of uint8 0-255 or float 0-1, .npz (key x "
        "or x_test, or --key), and MNIST's IDX files (gzipped or not). Folders are walked recursively, "
        "hidden files skipped. Array and IDX files are MNIST's form already and are scored as they are; "
        "image files are prepared first (--background, --frame), and the `prepared` column says how. An "
        "image with no digit in it (blank, or ink nearly everywhere) is reported, not scored.",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image or array files, or folders of them")
    predict.add_argument(
        "--model",
        help="the ONNX model: a .onnx file, or an MLflow model URI (models:/mnist-ann/3, "
        "models:/mnist-ann@champion, runs:/<run id>/onnx_model) resolved in the pipeline's tracking store "
        f"($MLFLOW_TRACKING_URI, else ./mlflow.db); default: {DEFAULT_MODEL}, the pipeline's export",
    )
    _add_output_options(predict)
    predict.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="output format (default csv)")
    predict.add_argument("--no-probabilities", action="store_true", help="leave out the ten class probabilities")
    _add_image_options(predict)
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
    predict.set_defaults(handler=run_predict)


def _add_output_options(predict) -> None:
    """Where the rows go (--output), and where the work is done (--ray)."""
    predict.add_argument(
        "--output",
        required=True,  # a string: Path() would drop the trailing slash that asks for a folder
        help="file to write (written atomically); with --ray, a folder (DIR/) takes shards of 100k rows "
        "(part-00000.csv, ...) and errors.csv, and appears whole when the job ends",
    )
    predict.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="score on a Ray cluster: the one at ADDRESS, or (auto, the default) the one $RAY_ADDRESS names, "
        "else a new local one; inputs must be at the same path on every node (README: Beyond one machine)",
    )


def _add_image_options(predict) -> None:
    """How image files become digits: --background (and its synonym --invert) and --frame."""
    predict.add_argument(
        "--background",
        choices=BACKGROUNDS,
        default="auto",
        help="image files: dark = MNIST's light digit on a dark ground; light = dark ink on light paper "
        "(inverted before scoring); auto (default) = decided per image from its border. Transparent "
        "pixels become the background",
    )
    predict.add_argument("--invert", action="store_true", help="the same as --background light")
    predict.add_argument(
        "--frame",
        choices=FRAMINGS,
        default="mnist",
        help="image files: mnist (default) = framed as MNIST's digits were (the ink's box scaled to fit "
        "20x20, its centre of mass at the centre of 28x28), for digits cropped tight or written anywhere on "
        "a page; measured with the pipeline's model: font crops 30%% -> 80%%, scans 10%% -> 78%%, MNIST's "
        "own PNGs unchanged (96.4%%); none = the whole image resized to 28x28",
    )


def run_predict(args: argparse.Namespace) -> int:
    from .batch import BatchSettings, start_decoding
    from .discovery import discover
    from .inference import OnnxModel
    from .predictions import check_output
    from .preparation import Preparation
    from .shards import is_folder_output

    inputs, missing = discover(args.inputs)
    for source, reason in missing:
        log.warning("skipped %s: %s", source, reason)
    preparation = Preparation(background="light" if args.invert else args.background, frame=args.frame)
    settings = BatchSettings(args.batch_size, preparation, args.key, args.workers)
    to_folder = args.ray is not None and is_folder_output(args.output)  # shards.py checks the folder
    # On this machine the image files start decoding now, on every core, while the model loads.
    decoding = start_decoding(inputs, settings) if args.ray is None else contextlib.nullcontext()
    with decoding as decoder, tempfile.TemporaryDirectory(prefix="mnist-ann-model-") as fetched:
        model_file = _model_file(args.model, Path(fetched))
        if not to_folder:
            check_output(args.output, [item.path for item in inputs], model_file)
        model = OnnxModel(model_file)
        score = _scorer(args.ray, model, model_file, inputs, settings, decoder)
        return _write_predictions(args, score, inputs, missing, to_folder)


def _write_predictions(args: argparse.Namespace, score, inputs, missing, to_folder: bool) -> int:
    """Score into the output (one file, or with --ray a shard folder) and its errors file; the exit code."""
    from .predictions import prediction_file, write_errors
    from .shards import ERRORS_NAME, shard_folder

    with_probabilities = not args.no_probabilities
    with ProgressBar(len(inputs)) as progress:
        if to_folder:
            sources = [item.path for item in inputs]
            with shard_folder(args.output, args.format, with_probabilities, sources) as (writer, errors):
                outcome = score(writer, progress)
                errors += missing + outcome.errors
            errors_file = Path(args.output, ERRORS_NAME) if errors else None
        else:
            with prediction_file(args.output, args.format, with_probabilities) as writer:
                outcome = score(writer, progress)
            errors_file = write_errors(args.output, missing + outcome.errors)
    errors = missing + outcome.errors
    log.info("scored %d images from %d inputs into %s", outcome.scored, len(inputs), args.output)
    if errors:
        log.warning("%d inputs could not be scored; listed in %s", len(errors), errors_file)
    return EXIT_SOME_FAILED if errors else EXIT_OK


def _scorer(ray: str | None, model, model_file: Path, inputs, settings, decoder):
    """How the inputs are scored into a writer, `score(writer, progress) -> outcome`: here (images
    from `decoder`), or (--ray ADDRESS) on a Ray cluster, whose actors get the model file's bytes."""
    if ray is None:
        from .batch import score_inputs

        return lambda writer, progress: score_inputs(model, inputs, writer, settings, progress, decoder)
    from .cluster import score_on_ray

    model_bytes, model_name = model_file.read_bytes(), str(model_file)  # read while a fetched file exists

    def score_on_cluster(writer, progress):
        outcome = score_on_ray(model_bytes, model_name, inputs, writer, settings, progress, ray)
        log.info("images per Ray node: %s", ", ".join(f"{node[:8]} {n}" for node, n in outcome.images_by_node.items()))
        return outcome

    return score_on_cluster


def _model_file(model: str | None, fetched: Path) -> Path:
    """The .onnx file that --model names: a file as given, an MLflow URI's model fetched into
    `fetched` (mlflow is imported for URIs only), or by default the pipeline's export."""
    from .errors import ModelError
    from .tracking import repo_root
    from .tracking.registry import fetch_onnx_model, is_model_uri

    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise ModelError(f"no --model given and there is no {DEFAULT_MODEL} here: run `dvc repro`, or pass --model")
        return DEFAULT_MODEL
    if is_model_uri(model):
        log.info("fetching %s from the MLflow store", model)
        return fetch_onnx_model(model, repo_root(), fetched)
    return Path(model)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
