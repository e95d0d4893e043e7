"""What every entry point (stage script or console command) does around its work: configure logging
once, turn expected errors into one line on stderr and a meaningful exit code."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from .errors import MnistAnnError

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143  # 128 + the signal, as shells say


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, `docker stop`), raised like Ctrl-C so that everything that
    cleans up after Ctrl-C (temporary files removed, the MLflow run marked KILLED) runs for it too."""


def _raise_terminated(signum, frame) -> NoReturn:
    raise Terminated


def configure_logging() -> None:
    """Log to stderr, at $MNIST_ANN_LOG_LEVEL (default INFO); stdout stays free for results."""
    logging.basicConfig(
        level=os.environ.get("MNIST_ANN_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> NoReturn:
    """Run `main(argv)` and exit: with its return value (0 when it returns None), 1 with
    `error: <one line>` on an expected error or a file-system error, 130 on Ctrl-C, 143 on
    SIGTERM. Anything else is a bug and keeps its traceback."""
    configure_logging()
    signal.signal(signal.SIGTERM, _raise_terminated)
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
    except Terminated:
        print("terminated", file=sys.stderr)
        sys.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if code is None else code)


# Paths several stages take, with one wording.
_SHARED_PATHS = {
    "data": "folder of the preprocess stage's .npy files",
    "model": "the trained .keras model",
    "run_file": "the train stage's MLflow run id file (JSON)",
}


def stage_arguments(
    description: str, argv: Sequence[str] | None, shared: Sequence[str], own: Mapping[str, str]
) -> argparse.Namespace:
    """Parse a stage script's arguments: `--params` (default params.yaml), the shared paths named in
    `shared` (data, model, run_file), and the stage's own paths, `own` mapping each name to its help.
    Every path is required (dvc.yaml names them all); `run_file` is spelled `--run-file`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameter file")
    for name, text in {**{name: _SHARED_PATHS[name] for name in shared}, **own}.items():
        parser.add_argument("--" + name.replace("_", "-"), type=Path, required=True, help=text)
    return parser.parse_args(argv)
