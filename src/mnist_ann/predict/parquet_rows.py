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
        pa = self._pa
        probabilities = np.concatenate(self._probabilities)
        columns = [
            pa.array(self._sources, pa.string()),
            pa.array(probabilities.argmax(axis=1).astype(np.uint8)),
            pa.array(probabilities.max(axis=1)),
        ]
        if self.with_probabilities:
            columns += [pa.array(np.ascontiguousarray(probabilities[:, d])) for d in range(NUM_CLASSES)]
        columns.append(pa.array(self._prepared, pa.string()))
        if self.min_confidence is not None:
            columns.append(pa.array(probabilities.max(axis=1) < self.min_confidence))
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self.schema), row_group_size=ROW_GROUP)
        self._sources, self._prepared, self._probabilities, self._buffered = [], [], [], 0

    def close(self) -> None:
        """The last rows and the footer: without it the file is not Parquet."""
        self._flush()
        self._writer.close()
