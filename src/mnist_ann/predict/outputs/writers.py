"""Prediction files: CSV (or JSON Lines, or Parquet: parquet_rows.py), one row per image: `source`,
`label`, `confidence`, the ten class probabilities and `prepared` (`<frame>/<background>` for image
files, e.g. mnist/light; `as-is` for array rows), written to a temporary file and renamed into
place at the end.

CSV rows are formatted with numpy, a block at a time, rather than value by value in Python: for
array inputs that is most of the work left once onnxruntime has scored the images. Probabilities are
written with six decimals.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ...core.files import atomic_path, write_csv
from .csv_bytes import DECIMALS, decimal, flags, numeric_columns
from .names import csv_field, error_rows, printable
from .number_rows import csv_lines, json_lines, read_numbers
from .parquet_rows import ParquetRows
from .spec import OutputSpec, errors_name
from .uncertain import several_rows, uncertain_rows

ARRAY_ROWS = "as-is"  # rows of array files: MNIST-framed already, never reframed


class PredictionWriter:
    """Appends prediction rows to an open binary file, in CSV, JSON Lines or Parquet; `finish`
    ends the file (Parquet's footer)."""

    def __init__(self, fp: BinaryIO, spec: OutputSpec):
        self.fp, self.spec = fp, spec
        self.fmt, self.with_probabilities = spec.fmt, spec.with_probabilities
        self.min_confidence = spec.min_confidence  # rows below it say `uncertain`: 1 (CSV), true (JSON Lines)
        self.rows = 0
        self._parquet = ParquetRows(fp, spec) if spec.fmt == "parquet" else None
        if spec.fmt == "csv":
            fp.write((",".join(spec.header()) + "\n").encode())

    def _ends(self, probabilities: np.ndarray, end: str, prepared: Sequence[str] = ()) -> np.ndarray:
        """Each row's last column(s) and line end: `end`, and the uncertain flag when asked for."""
        if self.min_confidence is None:
            return np.broadcast_to(np.frombuffer(f"{end}\n".encode(), np.uint8), (len(probabilities), len(end) + 1))
        return np.concatenate(
            [
                np.broadcast_to(np.frombuffer(end.encode(), np.uint8), (len(probabilities), len(end))),
                flags(self._uncertain(probabilities, prepared), b"\n"),
            ],
            axis=1,
        )

    def _uncertain(self, probabilities: np.ndarray, prepared: Sequence[str] = ()) -> np.ndarray:
        several = several_rows(prepared) if len(prepared) else None
        return uncertain_rows(probabilities.max(axis=1), self.min_confidence, several)

    def write(
        self,
        sources: Sequence[str],
        probabilities: np.ndarray,
        prepared: Sequence[str],
        counts: Sequence[int] | None = None,
    ) -> None:
        """Rows for images named one by one (image files), with what was done to each; for rows of
        numbers (the spec's `numbers`), how many digits each has (`counts`: their probabilities are
        `probabilities`' rows, in order; None: one each)."""
        if self.spec.numbers:
            self._write_numbers(sources, probabilities, prepared, counts)
            return
        if self._parquet is not None:
            self._parquet.write(sources, probabilities, prepared)
            self.rows += len(sources)
            return
        if self.fmt == "jsonl":
            self._write_jsonl(sources, probabilities, prepared)
            return
        numeric = numeric_columns(probabilities, self.with_probabilities, b",")
        ends = self._ends(probabilities, "", prepared)
        rows = zip(sources, numeric, prepared, ends)
        self.fp.write(
            b"".join(csv_field(s).encode() + row.tobytes() + p.encode() + end.tobytes() for s, row, p, end in rows)
        )
        self.rows += len(sources)

    def write_array_rows(self, path: str, start: int, probabilities: np.ndarray) -> None:
        """Rows for images `start`, `start + 1`, ... of the array file `path`, named `path#i`."""
        if self.spec.numbers:  # each row a number of one digit: the columns are the file's columns
            sources = [f"{path}#{i}" for i in range(start, start + len(probabilities))]
            self._write_numbers(sources, probabilities, [ARRAY_ROWS] * len(sources), None)
            return
        if self._parquet is not None:
            self._parquet.write_array_rows(path, start, probabilities, ARRAY_ROWS)
            self.rows += len(probabilities)
            return
        if self.fmt == "jsonl":
            sources = [f"{path}#{i}" for i in range(start, start + len(probabilities))]
            self._write_jsonl(sources, probabilities, [ARRAY_ROWS] * len(sources))
            return
        numeric = np.concatenate(
            [numeric_columns(probabilities, self.with_probabilities, b""), self._ends(probabilities, f",{ARRAY_ROWS}")],
            axis=1,
        )
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
            block = [np.broadcast_to(prefix_bytes, (hi - lo, len(prefix_bytes))), decimal(indices[lo:hi], width)]
            if suffix:
                block.append(np.full((hi - lo, 1), ord('"'), np.uint8))
            block.append(numeric[lo:hi])
            self.fp.write(np.concatenate(block, axis=1).tobytes())
        self.rows += len(probabilities)

    def _write_numbers(
        self, sources: Sequence[str], probabilities: np.ndarray, prepared: Sequence[str], counts: Sequence[int] | None
    ) -> None:
        numbers = read_numbers(probabilities, counts if counts is not None else [1] * len(sources))
        uncertain = None
        if self.min_confidence is not None:
            uncertain = uncertain_rows(numbers.confidences, self.min_confidence)
        if self._parquet is not None:
            self._parquet.write_numbers(sources, numbers, prepared, uncertain)
        elif self.fmt == "jsonl":
            self.fp.write(json_lines(sources, numbers, prepared, uncertain))
        else:
            self.fp.write(csv_lines(sources, numbers, prepared, uncertain))
        self.rows += len(sources)

    def finish(self) -> None:
        if self._parquet is not None:
            self._parquet.close()

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
            if self.min_confidence is not None:
                record["uncertain"] = bool(self._uncertain(row[None], [applied])[0])
            lines.append(json.dumps(record) + "\n")
        self.fp.write("".join(lines).encode())
        self.rows += len(sources)


@contextlib.contextmanager
def prediction_file(path: str | Path, spec: OutputSpec) -> Iterator[PredictionWriter]:
    """A writer whose rows appear at `path` only when the block ends without error. A failed
    write (a full disk) is reported against `path`, not the temporary file."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb", buffering=1 << 20) as fp:
            writer = PredictionWriter(fp, spec)
            yield writer
            writer.finish()
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def errors_path(output: str | Path) -> Path:
    """Where the inputs that could not be scored are listed: `predictions.errors.csv` beside
    `predictions.csv`."""
    output = Path(output)
    return output.with_name(errors_name(output.name))


def write_errors(output: str | Path, errors: Sequence[tuple[str, str]]) -> Path | None:
    """List the failed inputs next to the output, or remove a stale list when nothing failed."""
    path = errors_path(output)
    if not errors:
        path.unlink(missing_ok=True)
        return None
    write_csv(path, error_rows(errors))
    return path
