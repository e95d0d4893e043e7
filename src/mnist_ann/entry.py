"""What every entry point (stage script or console command) does around its work: configure logging
once, turn expected errors into one line on stderr and a meaningful exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from .errors import MnistAnnError

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


def configure_logging() -> None:
    """Log to stderr, at $MNIST_ANN_LOG_LEVEL (default INFO); stdout stays free for results."""
    logging.basicConfig(
        level=os.environ.get("MNIST_ANN_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> NoReturn:
    """Run `main(argv)` and exit: with its return value (0 when it returns None), 1 with
    `error: <one line>` on an expected error or a file-system error, 130 on Ctrl-C. Anything else
    is a bug and keeps its traceback."""
    configure_logging()
    try:
        code = main(argv)
    except MnistAnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): not an error of ours. Point stdout at devnull so
        # that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        # A missing input, an unwritable folder, a full disk: the user's to fix, named in one line.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if code is None else code)


# Arguments several stages take, with one wording.
_STAGE_ARGUMENTS = {
    "data": "folder of the preprocess stage's .npy files",
    "model": "the trained .keras model",
    "run-file": "the train stage's MLflow run id file (JSON)",
}


def stage_parser(description: str, *common: str) -> argparse.ArgumentParser:
    """An argument parser for a stage script: `--params` plus the shared arguments named in
    `common` (data, model, run-file); the stage adds its own outputs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameter file")
    for name in common:
        parser.add_argument(f"--{name}", type=Path, required=True, help=_STAGE_ARGUMENTS[name])
    return parser
