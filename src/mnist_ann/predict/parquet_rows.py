"""Prediction rows as Parquet: the columns of the CSV output, typed (source and prepared strings,
label uint8, confidence and prob_0..prob_9 float32 as the model gave them, uncertain bool), in
input order, in row groups of ROW_GROUP rows. pyarrow is imported only for this format.

Where CSV spends most of its time formatting ten decimals per row, Parquet writes the model's
float32 columns as they are: the cheapest output there is for millions of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from ..data import NUM_CLASSES
from .names import printable

ROW_GROUP = 128 * 1024  # rows buffered per row group: about 6 MB of columns, read back a group at a time


class ParquetRows:
    """Appends prediction rows to an open binary file as Parquet; `close` writes the footer."""

    def __init__(self, fp: BinaryIO, with_probabilities: bool, min_confidence: float | None = None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self.with_probabilities, self.min_confidence = pa, with_probabilities, min_confidence
        fields = [("source", pa.string()), ("label", pa.uint8()), ("confidence", pa.float32())]
        fields += [(f"prob_{d}", pa.float32()) for d in range(NUM_CLASSES)] if with_probabilities else []
        fields += [("prepared", pa.string())] + ([("uncertain", pa.bool_())] if min_confidence is not None else [])
        self.schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(fp, self.schema, compression="snappy")
        self._sources: list[str] = []
        self._prepared: list[str] = []
        self._probabilities: list[np.ndarray] = []
        self._buffered = 0

    def write(self, sources: Sequence[str], probabilities: np.ndarray, prepared: Sequence[str]) -> None:
        self._append([printable(source) for source in sources], probabilities, list(prepared))

    def write_array_rows(self, path: str, start: int, probabilities: np.ndarray, prepared: str) -> None:
        name = printable(path)
        sources = [f"{name}#{i}" for i in range(start, start + len(probabilities))]
        self._append(sources, probabilities, [prepared] * len(sources))

    def _append(self, sources: list[str], probabilities: np.ndarray, prepared: list[str]) -> None:
        self._sources += sources
        self._prepared += prepared
        self._probabilities.append(np.asarray(probabilities, np.float32))
        self._buffered += len(sources)
        if self._buffered >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        probabilities = np.concatenate(self._probabilities)
        top = probabilities.max(axis=1)
        columns = [
            _strings(self._pa, self._sources),
            _numbers(self._pa, probabilities.argmax(axis=1).astype(np.uint8)),
            _numbers(self._pa, top),
        ]
        if self.with_probabilities:
            columns += [_numbers(self._pa, probabilities[:, d]) for d in range(NUM_CLASSES)]
        columns.append(_strings(self._pa, self._prepared))
        if self.min_confidence is not None:
            columns.append(_flags(self._pa, top < self.min_confidence))
        table = self._pa.Table.from_arrays(columns, schema=self.schema)
        self._writer.write_table(table, row_group_size=ROW_GROUP)
        self._sources, self._prepared, self._probabilities, self._buffered = [], [], [], 0

    def close(self) -> None:
        """The last rows and the footer: without it the file is not Parquet."""
        self._flush()
        self._writer.close()


# Columns are built from their buffers: pa.array() imports pandas on its first call (0.25 s, as much
# as scoring 80,000 images), to see whether it was handed a pandas object.
_TYPES = {np.dtype(np.uint8): "uint8", np.dtype(np.float32): "float32"}


def _numbers(pa, values: np.ndarray):
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(getattr(pa, _TYPES[values.dtype])(), len(values), [None, pa.py_buffer(values)])


def _flags(pa, values: np.ndarray):
    bits = np.packbits(values, bitorder="little")  # Arrow's booleans: one bit each, least significant first
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _strings(pa, texts: list[str]):
    encoded = [text.encode() for text in texts]
    offsets = np.zeros(len(encoded) + 1, np.int32)  # a row group's texts stay far below 2 GiB
    np.cumsum([len(piece) for piece in encoded], out=offsets[1:])
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))
