"""`mnist-ann predict`: its options, turned into a Job (job.py). Imports stay light until it runs
(`mnist-ann --help` needs no numpy): numpy, onnxruntime and Pillow then, never TensorFlow."""

from __future__ import annotations

import argparse
import os

from .inputs.images.preparation import BACKGROUNDS, DIGITS, FRAMINGS, Preparation
from .model_source import DEFAULT_INT8, DEFAULT_MODEL
from .outputs.spec import FORMATS, STDOUT, OutputSpec, beside_names
from .settings import DEFAULT_BATCH, BatchSettings


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
    predict.add_argument("--no-probabilities", action="store_true", help="leave out the ten class probabilities")
    predict.add_argument(
        "--min-confidence",
        type=_share,
        metavar="P",
        help="add a column `uncertain`: 1 (true in JSON Lines) for rows whose confidence is below P (0-1), "
        "or whose picture holds several digit-sized marks (prepared ends -marks), to send those to a "
        "person; no row is dropped",
    )
    _add_image_options(predict)
    predict.add_argument("--key", help="array to read from .npz files (default: x, else x_test, else the only one)")
    predict.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH,
        help=f"images scored per model call (default {DEFAULT_BATCH})",
    )
    predict.add_argument(
        "--workers",
        type=_workers,
        default=os.cpu_count() or 1,
        help="processes decoding images (default: one per core)",
    )
    predict.set_defaults(handler=run_predict)


def _add_output_options(predict) -> None:
    """Where the rows go (--output, --format), and where the work is done (--ray)."""
    predict.add_argument(
        "--output",
        required=True,
        type=_output,  # a string: Path() would drop the trailing slash that asks for a folder
        help="file to write (written atomically), or - for standard output (CSV or JSON Lines; the inputs that "
        "fail are then named on stderr only); with --ray, a folder (DIR/) takes one shard per task, written "
        "by the workers (part-000000.csv, ...), errors.csv and the manifest _SUCCESS, and appears whole at the end",
    )
    predict.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: the output's suffix, .jsonl or .parquet, else csv); parquet keeps the "
        "columns typed and the probabilities as the model's float32",
    )
    predict.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="score on a Ray cluster: the one at ADDRESS, or (auto, the default) the one $RAY_ADDRESS names, "
        "else a new local one; inputs must be at the same path on every node (docs/cluster.md)",
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
        "--save-prepared",
        metavar="DIR",
        help="also write the 28x28 digit each image file was scored as, one PNG per file named after it, "
        "into DIR (a new or empty folder, which appears when the command ends): what the model saw",
    )
    predict.add_argument(
        "--int8",
        action="store_true",
        help=f"score with the int8 model: the export's {DEFAULT_INT8}, or a registered version's (with --model "
        "models:/...); about 2.5x the float model's speed on a CPU with VNNI, the same digit on >= 99.8%% of "
        "MNIST's test set (docs/pipeline.md: The int8 model)",
    )
    predict.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 3 when the batch drifted from the images the model was checked on (the alarm in "
        "OUTPUT's .monitor.json, docs/predict.md: Monitoring), after writing every output; without it, "
        "the alarm is one warning on stderr",
    )
    predict.add_argument(
        "--digits",
        choices=DIGITS,
        default="one",
        help="image files: one (default) = each picture is one digit; many = each is a number, its digits "
        "read left to right: label is the digit string (2024), confidence the lowest of its digits', with "
        "columns digits, digit_labels and digit_confidences instead of the probabilities, and "
        "--save-prepared writes one image per digit (docs/predict.md: Numbers)",
    )
    predict.add_argument(
        "--frame",
        choices=FRAMINGS,
        default="mnist",
        help="image files: mnist (default) = framed as MNIST's digits were (the ink's box scaled to fit "
        "20x20, its centre of mass at the centre of 28x28), for digits cropped tight or written anywhere on "
        "a page (docs/predict.md: Your own images); none = the whole image resized to 28x28",
    )


def run_predict(args: argparse.Namespace) -> int:
    """The subcommand's handler: its options as a Job, run (job.py); the exit code."""
    from .job import Job, run_job

    background = "light" if args.invert else args.background
    if args.digits == "many" and args.frame != "mnist":
        from ..core.errors import MnistAnnError

        raise MnistAnnError("--digits many frames each digit as MNIST's: it cannot be used with --frame none")
    preparation = Preparation(background=background, frame=args.frame, digits=args.digits)
    settings = BatchSettings(args.batch_size, preparation, args.key, args.workers)
    spec = OutputSpec(
        args.format or output_format(args.output),
        not args.no_probabilities,
        args.min_confidence,
        numbers=preparation.numbers,
    )
    job = Job(
        args.inputs,
        args.output,
        args.model,
        spec,
        settings,
        args.ray,
        save_prepared=args.save_prepared,
        fail_on_drift=args.fail_on_drift,
        int8=args.int8,
    )
    return run_job(job)


def output_format(output: str) -> str:
    """The format an output's name asks for: .jsonl and .parquet their own, anything else CSV."""
    suffix = os.path.splitext(output.rstrip(os.sep))[1].lower().lstrip(".")
    return suffix if suffix in FORMATS else "csv"


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {value:g}")
    return value


MAX_WORKERS = 1024  # decoding processes: far past any machine's cores, and below what a kernel allows


def _workers(text: str) -> int:
    value = _positive(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS} processes, got {value}")
    return value


def _output(text: str) -> str:
    """A name the command can write, and write its errors beside, checked before any work."""
    if text == STDOUT:
        return text
    if text.startswith("s3://"):
        return _object_output(text)
    name = os.path.basename(os.path.normpath(text)) if text else ""
    if name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names no new file or folder (give FILE, or a new folder DIR/)")
    folder = os.path.dirname(os.path.abspath(text)) or "/"
    try:
        limit = os.pathconf(folder if os.path.isdir(folder) else "/", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    # the longest name writers give it or put beside it
    errors = name if text.endswith(os.sep) else max(beside_names(name), key=len)
    longest = max(len(name.encode()), len(errors.encode()))
    if longest > limit:
        raise argparse.ArgumentTypeError(
            f"the name is too long: {longest} bytes with the files beside it ({errors[:20]}...), at most {limit}"
        )
    return text


MAX_KEY_BYTES = 1024  # S3's longest key: an object's name is not a local file's (255 bytes)


def _object_output(uri: str) -> str:
    """An s3:// output: its key, and the errors object's beside it, at most MAX_KEY_BYTES."""
    folder, _, name = uri[len("s3://") :].partition("/")[2].rpartition("/")
    longest = max(len(f"{folder}/{each}".encode()) for each in (name, *beside_names(name)))
    if longest > MAX_KEY_BYTES:
        raise argparse.ArgumentTypeError(
            f"the key is too long: {longest} bytes with the objects beside it, at most 1024"
        )
    return uri


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
