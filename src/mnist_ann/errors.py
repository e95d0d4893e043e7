"""Every error the library raises on purpose, in one place. Each carries one line that names what is
wrong (the parameter, the file, the reason), and entry points print that line without a traceback."""

from __future__ import annotations

import re


class MnistAnnError(Exception):
    """Base of every error a user can cause or fix (bad params, bad data, unreachable sources)."""


class ParamsError(MnistAnnError):
    """A parameter file that is missing, unreadable, or has a wrong, unknown or missing key."""


class DataError(MnistAnnError):
    """An array or data file that is not what it should be (shape, dtype, hash, format)."""


class DownloadError(MnistAnnError):
    """Every configured data source failed; the message lists each source and why."""


class TrainingError(MnistAnnError):
    """Training that cannot give a usable model (the loss became NaN or infinite)."""


class InputError(MnistAnnError):
    """One input of `mnist-ann predict` that cannot be scored; the batch goes on without it."""


class OutputError(MnistAnnError):
    """An output path predict must not write: an input, the model, or not a regular file."""


class ModelError(MnistAnnError):
    """A model file that is missing, not ONNX, unsafe, or of the wrong shape."""


class ParityError(MnistAnnError):
    """The ONNX model does not give the Keras model's answers (the export stage's gate)."""


class TrackingError(MnistAnnError):
    """The tracking store cannot be reached, refuses the run, or the run-id file is unreadable."""


class ObjectStoreError(MnistAnnError):
    """An object store (s3://) that cannot be reached or refuses: a missing bucket, denied credentials."""


class ClusterError(MnistAnnError):
    """`predict --ray`: the Ray cluster cannot be started or joined, or the job failed on it."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line of at most `limit` characters: its message's first line, or its
    class name when it has none (a bare `KeyError()`, a library's empty message)."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: str) -> str:
    """`text` safe for a terminal and a log: control characters (a newline that would forge a log
    line, ESC sequences that would drive the terminal) as escapes, and bytes of a file name that are
    not UTF-8 as \\xNN (as_utf8). File names go to stderr only through this."""
    return as_utf8(_CONTROLS.sub(lambda m: repr(m.group())[1:-1], text))


def as_utf8(text: str) -> str:
    """`text` as valid UTF-8 text: bytes of a file name that are not UTF-8 (which Python keeps as
    surrogates) as \\xNN, any other lone surrogate as \\uXXXX, so that writing it cannot fail."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # a file name's bytes: shown as the bytes they were (os.fsencode's view of them)
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def error_record(exc: MnistAnnError) -> dict[str, str]:
    """`exc` as data that crosses a process boundary intact (Ray Data hands a worker's raised error
    on as text in its own class): raised again on the other side by `from_record`."""
    return {"class": type(exc).__name__, "message": str(exc)}


def from_record(record: dict[str, str]) -> MnistAnnError:
    """The error that `error_record` described, as its own class (only this module's classes)."""
    classes = {cls.__name__: cls for cls in (MnistAnnError, *MnistAnnError.__subclasses__())}
    return classes.get(record["class"], MnistAnnError)(record["message"])
