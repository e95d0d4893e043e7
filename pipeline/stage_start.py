"""The first thing every stage script does, `start_stage()`: install the signal handlers that make
Ctrl-C during the imports exit 130 without a traceback, in the project's environment.

Where the environment is missing, the stage runs in the Python environment that DVC itself runs in.
DVC runs a stage's `python ...` command through a shell with the caller's PATH, so `.venv/bin/dvc repro`
typed in a shell without the venv activated would start the stages with whatever `python` comes first
on PATH, which lacks the project (and DVC would already have deleted the stage's outputs). A stage
script that cannot import mnist_ann calls rerun_with_dvcs_python(), which finds the interpreter of the
`dvc` process that started the stage and runs the stage again with it, or, where there is none,
exits with one line.

Standard library only: this runs precisely when the project's environment is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

RERUN = "MNIST_ANN_RERUN_BY"  # set on the rerun: a second failure must not loop


def dvcs_python() -> str | None:
    """The interpreter of the nearest `dvc` process above this one (Linux: read from /proc): the
    shebang's interpreter of a `dvc` script, or the `python` of `python -m dvc`; None elsewhere."""
    pid = os.getppid()
    for _ in range(6):  # the shell DVC runs the command through, DVC, and whatever started DVC
        try:
            words = [w.decode(errors="replace") for w in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if w]
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        runs_dvc = len(words) > 1 and (Path(words[1]).name == "dvc" or words[1:3] == ["-m", "dvc"])
        if runs_dvc and os.path.isabs(words[0]) and Path(words[0]).name.startswith("python"):
            return words[0]
        if parent <= 1:
            return None
        pid = parent
    return None


def rerun_with_dvcs_python() -> NoReturn:
    """Run this stage again with DVC's interpreter, or exit 1 with one line saying what to do."""
    python = dvcs_python()
    if python and python != sys.executable and RERUN not in os.environ:
        print(f"{sys.executable} has no mnist_ann: running the stage with DVC's {python}", file=sys.stderr)
        sys.stderr.flush()
        os.execve(python, [python, *sys.argv], {**os.environ, RERUN: sys.executable})
    sys.exit(
        f"error: {sys.executable} has no mnist_ann: run dvc from the project's environment "
        "(`source .venv/bin/activate`, or `make repro`)"
    )


def start_stage() -> None:
    """Called first by every stage script, before its other imports: until run_main takes over,
    Ctrl-C, SIGTERM or SIGHUP exits 130, 143 or 129 with one word (core/process.py); without mnist_ann,
    the stage runs again with DVC's interpreter, or exits with one line."""
    try:
        from mnist_ann.core.process import exit_on_signals_while_starting, set_numpy_defaults
    except ModuleNotFoundError:  # DVC runs the `python` first on PATH: not the project's environment
        rerun_with_dvcs_python()
    exit_on_signals_while_starting()
    set_numpy_defaults()  # before the stage's own imports load numpy
