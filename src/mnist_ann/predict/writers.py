"""Prediction files: CSV (or JSON Lines), one row per image: `source`, `label`, `confidence`, the
ten class probabilities and `prepared` (`<frame>/<background>` for image files, e.g. mnist/light;
`as-is` for array rows), written to a temporary file and renamed into place at the end.

CSV rows are formatted with numpy, a block at a time, rather than value by value in Python: for
array inputs that is most of the work left once onnxruntime has scored the images. Probabilities are
written with six decimals.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..atomic import atomic_path, write_csv
from ..data import NUM_CLASSES
from ..errors import OutputError
from .names import csv_field, error_rows, printable

DECIMALS = 6
_SCALE = 10**DECIMALS
_DIGIT = np.uint8(ord("0"))


ARRAY_ROWS = "as-is"  # rows of array files: MNIST-framed already, never reframed


def header(with_probabilities: bool) -> list[str]:
    probabilities = [f"prob_{d}" for d in range(NUM_CLASSES)] if with_probabilities else []
    return ["source", "label", "confidence", *probabilities, "prepared"]


def _fixed(values: np.ndarray) -> np.ndarray:
    """Numbers in [0, 1] as (n, 8) ASCII bytes `d.dddddd`."""
    scaled = np.rint(np.clip(values.astype(np.float64), 0, 1) * _SCALE).astype(np.int64)
    out = np.empty((len(values), DECIMALS + 2), np.uint8)
    out[:, 0] = _DIGIT + scaled // _SCALE
    out[:, 1] = ord(".")
    fraction = scaled % _SCALE
    for position in range(DECIMALS + 1, 1, -1):
        out[:, position] = _DIGIT + fraction % 10
        fraction //= 10
    return out


def _numeric_columns(probabilities: np.ndarray, with_probabilities: bool, end: bytes) -> np.ndarray:
    """Each row's label, confidence and probabilities, then `end`, as an (n, width) byte matrix."""
    n = len(probabilities)
    comma = np.full((n, 1), ord(","), np.uint8)
    parts = [
        comma,
        (_DIGIT + probabilities.argmax(axis=1)).astype(np.uint8)[:, None],
        comma,
        _fixed(probabilities.max(axis=1)),
    ]
    if with_probabilities:
        for digit in range(NUM_CLASSES):
            parts += [comma, _fixed(probabilities[:, digit])]
    parts.append(np.broadcast_to(np.frombuffer(end, np.uint8), (n, len(end))))
    return np.concatenate(parts, axis=1)


def _decimal(numbers: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers that all have `width` digits, as an (n, width) byte matrix."""
    out = np.empty((len(numbers), width), np.uint8)
    rest = numbers.astype(np.int64)
    for position in range(width - 1, -1, -1):
        out[:, position] = _DIGIT + rest % 10
        rest //= 10
    return out


class PredictionWriter:
    """Appends prediction rows to an open binary file, in CSV or JSON Lines."""

    def __init__(self, fp: BinaryIO, fmt: str, with_probabilities: bool):
        self.fp, self.fmt, self.with_probabilities = fp, fmt, with_probabilities
        self.rows = 0
        if fmt == "csv":
            fp.write((",".join(header(with_probabilities)) + "\n").encode())

    def write(self, sources: Sequence[str], probabilities: np.ndarray, prepared: Sequence[str]) -> None:
        """Rows for images named one by one (image files), with what was done to each."""
        if self.fmt == "jsonl":
            self._write_jsonl(sources, probabilities, prepared)
            return
        numeric = _numeric_columns(probabilities, self.with_probabilities, b",")
        rows = zip(sources, numeric, prepared)
        self.fp.write(b"".join(csv_field(s).encode() + row.tobytes() + f"{p}\n".encode() for s, row, p in rows))
        self.rows += len(sources)

    def write_array_rows(self, path: str, start: int, probabilities: np.ndarray) -> None:
        """Rows for images `start`, `start + 1`, ... of the array file `path`, named `path#i`."""
        if self.fmt == "jsonl":
            sources = [f"{path}#{i}" for i in range(start, start + len(probabilities))]
            self._write_jsonl(sources, probabilities, [ARRAY_ROWS] * len(sources))
            return
        numeric = _numeric_columns(probabilities, self.with_probabilities, f",{ARRAY_ROWS}\n".encode())
        quoted = csv_field(f"{path}#")
        prefix, suffix = (quoted[:-1], b'"') if quoted.endswith('"') else (quoted, b"")
        prefix_bytes = np.frombuffer(prefix.encode(), np.uint8)
        indices = np.arange(start, start + len(probabilities))
        # Within one block the index has the same number of digits, so every row has the same
        # width and the block is one byte matrix.
        bounds = (
            [0] + [int(np.searchsorted(indices, 10**k)) for k in range(1, 19) if 10**k <= indices[-1]] + [len(indices)]
        )
        for lo, hi in itertools.pairwise(bounds):
            if lo == hi:
                continue
            width = len(str(indices[lo]))
            block = [np.broadcast_to(prefix_bytes, (hi - lo, len(prefix_bytes))), _decimal(indices[lo:hi], width)]
            if suffix:
                block.append(np.full((hi - lo, 1), ord('"'), np.uint8))
            block.append(numeric[lo:hi])
            self.fp.write(np.concatenate(block, axis=1).tobytes())
        self.rows += len(probabilities)

    def _write_jsonl(self, sources: Sequence[str], probabilities: np.ndarray, prepared: Sequence[str]) -> None:
        lines = []
        for source, row, applied in zip(sources, probabilities.astype(float), prepared):
            record = {
                "source": printable(source),
                "label": int(row.argmax()),
                "confidence": round(float(row.max()), DECIMALS),
            }
            if self.with_probabilities:
                record["probabilities"] = [round(p, DECIMALS) for p in row.tolist()]
            record["prepared"] = applied
            lines.append(json.dumps(record) + "\n")
        self.fp.write("".join(lines).encode())
        self.rows += len(sources)


@contextlib.contextmanager
def prediction_file(path: str | Path, fmt: str, with_probabilities: bool) -> Iterator[PredictionWriter]:
    """A writer whose rows appear at `path` only when the block ends without error. A failed
    write (a full disk) is reported against `path`, not the temporary file."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb", buffering=1 << 20) as fp:
            yield PredictionWriter(fp, fmt, with_probabilities)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def errors_path(output: str | Path) -> Path:
    """Where the inputs that could not be scored are listed: `predictions.errors.csv` beside
    `predictions.csv`."""
    output = Path(output)
    return output.with_name(f"{output.stem}.errors.csv")


def write_errors(output: str | Path, errors: Sequence[tuple[str, str]]) -> Path | None:
    """List the failed inputs next to the output, or remove a stale list when nothing failed."""
    path = errors_path(output)
    if not errors:
        path.unlink(missing_ok=True)
        return None
    write_csv(path, error_rows(errors))
    return path


def check_output(output: str | Path, sources: Sequence[str], model: str | Path) -> None:
    """Refuse, before any work, an output (or the errors file beside it) that would replace one of
    the inputs, the model, or anything but a regular file (a folder, a device such as /dev/null, a
    FIFO): renaming the finished file into place would destroy it."""
    protected = None
    for path in (Path(output), errors_path(output)):
        try:
            found = os.stat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(found.st_mode):
            raise OutputError(f"{path}: exists and is not a regular file; refusing to replace it")
        if protected is None:  # one stat per input, and only when an output would be replaced
            protected = {_identity(s): f"an input ({s})" for s in sources}
            protected[_identity(model)] = f"the model {model}"
        what = protected.get((found.st_dev, found.st_ino))
        if what:
            raise OutputError(f"{path} is {printable(what)}; refusing to overwrite it")


def _identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, or None for a path that cannot be stat'ed (nothing to protect)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino
