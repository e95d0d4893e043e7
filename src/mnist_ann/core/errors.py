"""The errors both families raise, and how an error is shown. Each carries one line that names what is
wrong (the parameter, the file, the reason), and entry points print that line without a traceback."""

from __future__ import annotations

import re


class MnistAnnError(Exception):
    """Base of every error a user can cause or fix (bad params, bad data, unreachable sources)."""


class ParamsError(MnistAnnError):
    """A parameter file that is missing, unreadable, or has a wrong, unknown or missing key."""


class DataError(MnistAnnError):
    """An array or data file that is not what it should be (shape, dtype, hash, format)."""


class OutputError(MnistAnnError):
    """An output path predict must not write: an input, the model, or not a regular file."""


class ModelError(MnistAnnError):
    """A model file that is missing, not ONNX, unsafe, or of the wrong shape."""


class TrackingError(MnistAnnError):
    """The tracking store cannot be reached, refuses the run, or the run-id file is unreadable."""


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
