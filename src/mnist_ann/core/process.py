"""What every entry point (stage script or console command) does around its work: configure logging
once, turn expected errors into one line on stderr and a meaningful exit code, and end the process."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from .errors import MnistAnnError, shown

EXIT_OK, EXIT_ERROR, EXIT_SOME_FAILED, EXIT_DRIFT = 0, 1, 2, 3


EXIT_HUNG_UP, EXIT_INTERRUPTED, EXIT_TERMINATED = 129, 130, 143  # 128 + the signal, as shells say


# Every status a stage or `mnist-ann` command exits with: docs/errors.md and `mnist-ann --help` say these.
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_ERROR: "an error, with one line `error: ...` on stderr (a usage error too); nothing written",
    EXIT_SOME_FAILED: "predict scored some inputs but not all (each one named on stderr and in the errors file)",
    EXIT_DRIFT: "predict --fail-on-drift: the batch drifted from what the model was checked on (monitor.json's "
    "alarm); every output was written",
    EXIT_HUNG_UP: "hung up: SIGHUP (the terminal closed, an SSH connection dropped)",
    EXIT_INTERRUPTED: "interrupted: Ctrl-C (SIGINT)",
    EXIT_TERMINATED: "terminated: SIGTERM (kill, timeout, docker stop)",
}


# The signals that stop a command: the word it ends with on stderr, and its exit status.
STOPPED_BY = {
    signal.SIGHUP: ("hung up", EXIT_HUNG_UP),  # the terminal closed, the SSH connection dropped
    signal.SIGINT: ("interrupted", EXIT_INTERRUPTED),
    signal.SIGTERM: ("terminated", EXIT_TERMINATED),
}


# Set to ignored by the launcher, these stay ignored: SIGINT by a non-interactive shell's `make test &`,
# SIGHUP by `nohup`.
IGNORABLE = (signal.SIGHUP, signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, `docker stop`) or SIGHUP, raised like Ctrl-C so that everything
    that cleans up after Ctrl-C (temporary files removed, the MLflow run marked KILLED) runs for it too."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


# What numpy reads from the environment when it loads, for every process of the project (each stage,
# and the command), set before numpy is imported; a user's own values stand.
NUMPY_DEFAULTS = {
    # numpy asks the kernel for huge pages on each large array (madvise). Where the kernel's THP
    # `defrag` is `madvise` (the usual default), every such allocation first compacts memory: on the
    # 2-core machine of docs/benchmarks.md, copying the 188 MB training set into TensorFlow took
    # 1.0-1.5 s instead of 0.08 s, and the train stage's fit 8.5-10.3 s instead of 6.7-7.0 s.
    "NUMPY_MADVISE_HUGEPAGE": "0",
}


def set_numpy_defaults(environ=os.environ) -> None:
    """Put NUMPY_DEFAULTS into `environ` where it has no value of its own: before numpy loads."""
    for name, value in NUMPY_DEFAULTS.items():
        environ.setdefault(name, value)


def _raise_terminated(signum, frame) -> NoReturn:
    raise Terminated(signum)


def exit_on_signals_while_starting() -> None:
    """Called first by a script, before its other imports: until run_main takes over, Ctrl-C,
    SIGTERM or SIGHUP exits 130, 143 or 129 with one word instead of an import traceback (nothing is
    open or written yet)."""
    for sig in STOPPED_BY:
        _handle_unless_ignored(sig, _exit_at_once)


def _handle_unless_ignored(sig: int, handler: Callable) -> None:
    if sig not in IGNORABLE or signal.getsignal(sig) is not signal.SIG_IGN:
        signal.signal(sig, handler)


def _exit_at_once(signum, frame) -> NoReturn:
    word, code = STOPPED_BY[signum]
    os.write(sys.stderr.fileno(), f"{word}\n".encode())
    os._exit(code)


class _ShownFormatter(logging.Formatter):
    """Each message one line of safe text (errors.shown): a file name with a newline in it cannot
    forge a log line, nor one with escape sequences drive the terminal."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = shown(record.message)
        return super().formatMessage(record)


LOG_LEVEL = "MNIST_ANN_LOG_LEVEL"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure_logging() -> None:
    """Log to stderr, at $MNIST_ANN_LOG_LEVEL (default INFO); stdout stays free for results. An
    unknown level is a MnistAnnError (logging's own ValueError was a traceback)."""
    level = os.environ.get(LOG_LEVEL, "").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise MnistAnnError(f"{LOG_LEVEL}={os.environ[LOG_LEVEL]!r}: expected one of {', '.join(LOG_LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ShownFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler])


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors exit 1 with one `error:` line after the usage: its
    own exit 2 means "some inputs failed" here (EXIT_CODES). Every command and stage parses with it."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"error: {message}\n")


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> NoReturn:
    """Run `main(argv)` and exit: with its return value (0 when it returns None), 1 with
    `error: <one line>` on an expected error or a file-system error, 130 on Ctrl-C, 143 on
    SIGTERM, 129 on SIGHUP. Anything else is a bug and keeps its traceback.

    With `argv` None, `main` runs on the process's own command line and this ends the process
    (end_process); with arguments given (a test, a caller in the same process) it raises SystemExit."""
    code = _exit_code(main, argv)
    # A profiler or debugger running the script (cProfile, pyinstrument, pdb) writes its report
    # after the script returns: it gets the ordinary exit.
    if argv is None and sys.getprofile() is None and sys.gettrace() is None:
        end_process(code)
    sys.exit(code)


def end_process(code: int) -> NoReturn:
    """Exit with `code` without tearing the interpreter down. A process that imported TensorFlow
    spends about 2 s (measured on 2 cores) freeing its thousands of modules one by one at exit, which
    every TensorFlow stage paid after its work was done. What an exit must do still happens first:
    the atexit callbacks (MLflow's, TensorFlow's), then logging and the standard streams flushed."""
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away, a closed stream
            stream.flush()
    os._exit(code)


# The optional packages (pyproject's extras), by the name they are imported as: a command that needs
# one that this install lacks (`pip install ".[predict]"` has no TensorFlow) says what to install.
INSTALLED_WITH = {
    **dict.fromkeys(("yaml", "tensorflow", "keras", "tf2onnx", "onnx", "dvc", "matplotlib", "requests"), "pipeline"),
    "mlflow": "registry",
    "ray": "ray",
    **dict.fromkeys(("pyarrow", "tqdm"), "predict"),
}


def _not_installed(module: str) -> str:
    package = module.split(".")[0]
    extra = INSTALLED_WITH[package]
    return f"this command needs {package}, which is not installed: pip install 'mnist-ann[{extra}]'"


_unraisable_before: list[Callable] = []  # the hook _stop_again stands in front of
RESEND_SECONDS = 0.05
_resent: list[tuple[int, threading.Timer]] = []  # stops a finalizer swallowed: (signal, its resending)


def _stop_again(unraisable) -> None:
    """Python cannot raise from a finalizer or a weakref callback: a Ctrl-C, SIGTERM or SIGHUP whose
    exception lands in one is printed ("Exception ignored ... KeyboardInterrupt") and lost, and the
    command would go on as if never stopped (seen: an export stage interrupted while tf2onnx's
    objects were being freed converted, registered and recorded its model). The signal is sent
    again, from a thread a moment later (raised at once, its exception would land in this hook and
    be lost too): it lands in the code that was running, or in another finalizer and here again.
    A command that ends before it lands still ends as stopped (_swallowed_stop)."""
    stop = unraisable.exc_value
    if isinstance(stop, KeyboardInterrupt):
        signum = getattr(stop, "signum", signal.SIGINT)
        again = threading.Timer(RESEND_SECONDS, os.kill, (os.getpid(), signum))
        again.daemon = True
        _resent.append((signum, again))
        again.start()
        return
    _unraisable_before[-1](unraisable)


def _swallowed_stop() -> int | None:
    """The signal of a stop a finalizer swallowed and whose resending has not gone out, if any; the
    resendings still to come are called off (the command is ending). One that went out was raised
    in the command, which dealt with it."""
    pending = [signum for signum, again in _resent if not again.finished.is_set()]
    for _, again in _resent:
        again.cancel()
    _resent.clear()
    return pending[0] if pending else None


def _take_over_signals() -> None:
    """While `main` runs, a stop raises where the command is (run_main says what happens next)."""
    _handle_unless_ignored(signal.SIGTERM, _raise_terminated)
    _handle_unless_ignored(signal.SIGHUP, _raise_terminated)
    if signal.getsignal(signal.SIGINT) is _exit_at_once:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.unraisablehook is not _stop_again:
        _unraisable_before.append(sys.unraisablehook)
        sys.unraisablehook = _stop_again


def _raise_swallowed_stop() -> None:
    """The stop a finalizer swallowed and whose resending has not landed, raised as it would have been."""
    stopped = _swallowed_stop()
    if stopped == signal.SIGINT:
        raise KeyboardInterrupt
    if stopped is not None:
        raise Terminated(stopped)


def _exit_code(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None) -> int:
    try:
        configure_logging()
    except MnistAnnError as exc:
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    _take_over_signals()
    try:
        code = main(argv)
        _raise_swallowed_stop()
    except MnistAnnError as exc:
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] not in INSTALLED_WITH:
            raise  # a bug: a module of ours, or a package every install has
        print(f"error: {_not_installed(exc.name)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): not an error of ours. Point stdout at devnull so
        # that the final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as exc:
        # A missing input, an unwritable folder, a full disk: the user's to fix, named in one line.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM or SIGHUP as Terminated
        _swallowed_stop()  # a resending still on its way is not a second stop
        word, code = STOPPED_BY[getattr(stop, "signum", signal.SIGINT)]
        print(word, file=sys.stderr)
        return code
    return EXIT_OK if code is None else code
