"""Prediction rows as Parquet: the columns of the CSV output, typed (source and prepared strings,
label uint8, confidence and prob_0..prob_9 float32 as the model gave them, uncertain bool), in
input order, in row groups of ROW_GROUP rows. pyarrow is imported only for this format.

Where CSV spends most of its time formatting ten decimals per row, Parquet writes the model's
float32 columns as they are: the cheapest output there is for millions of rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from ...core.mnist import NUM_CLASSES
from .csv_bytes import decimal
from .names import printable
from .number_rows import Numbers, number_columns
from .spec import OutputSpec
from .uncertain import several_rows, uncertain_rows

ROW_GROUP = 128 * 1024  # rows buffered per row group: about 6 MB of columns, read back a group at a time


class ParquetRows:
    """Appends prediction rows to an open binary file as Parquet; `close` writes the footer."""

    def __init__(self, fp: BinaryIO, spec: OutputSpec):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self.with_probabilities, self.min_confidence = pa, spec.with_probabilities, spec.min_confidence
        types = {"source": pa.string(), "label": pa.uint8(), "prepared": pa.string(), "uncertain": pa.bool_()}
        if spec.numbers:  # a number's label is its digits as text; each digit's, lists
            types |= {"label": pa.string(), "digits": pa.uint16()}  # a tight crop of 1s holds hundreds
            types |= {"digit_labels": pa.list_(pa.uint8()), "digit_confidences": pa.list_(pa.float32())}
        self.schema = pa.schema([(name, types.get(name, pa.float32())) for name in spec.header()])
        # Measured on 32k rows of model output: snappy with dictionaries tried on every column took
        # 18 ms and 1.03 MB; zstd level 1 with dictionaries only where values repeat, 8 ms and 0.70 MB.
        self._writer = pq.ParquetWriter(
            fp, self.schema, compression="zstd", compression_level=1, use_dictionary=["label", "prepared"]
        )
        self._sources: list[Texts] = []
        self._prepared: list[Texts] = []
        self._several: list[np.ndarray] = []  # per row: a picture of several digit-sized marks
        self._probabilities: list[np.ndarray] = []
        self._buffered = 0

    def write(self, sources: Sequence[str], probabilities: np.ndarray, prepared: Sequence[str]) -> None:
        self._several.append(several_rows(prepared))
        self._append(_encoded([printable(source) for source in sources]), probabilities, _encoded(prepared))

    def write_array_rows(self, path: str, start: int, probabilities: np.ndarray, prepared: str) -> None:
        n = len(probabilities)
        self._several.append(np.zeros(n, bool))
        self._append(_numbered(printable(path) + "#", start, n), probabilities, _repeated(prepared, n))

    def write_numbers(self, sources: Sequence[str], numbers: Numbers, prepared: Sequence[str], uncertain) -> None:
        """Rows of numbers (number_rows.py), written as a row group of their own."""
        columns = number_columns(sources, numbers, prepared, uncertain)
        arrays = [self._pa.array(columns[field.name], field.type) for field in self.schema]
        self._writer.write_table(self._pa.Table.from_arrays(arrays, schema=self.schema))

    def _append(self, sources: Texts, probabilities: np.ndarray, prepared: Texts) -> None:
        self._sources.append(sources)
        self._prepared.append(prepared)
        self._probabilities.append(np.asarray(probabilities, np.float32))
        self._buffered += len(probabilities)
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
            columns.append(_flags(self._pa, uncertain_rows(top, self.min_confidence, np.concatenate(self._several))))
        table = self._pa.Table.from_arrays(columns, schema=self.schema)
        self._writer.write_table(table, row_group_size=ROW_GROUP)
        self._sources, self._prepared, self._probabilities, self._buffered = [], [], [], 0
        self._several = []

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


# A run of texts as Arrow keeps them: each one's length in bytes, and their bytes end to end.
Texts = tuple[np.ndarray, bytes]


def _encoded(texts: Sequence[str]) -> Texts:
    encoded = [text.encode() for text in texts]
    return np.array([len(piece) for piece in encoded], np.int32), b"".join(encoded)


def _repeated(text: str, n: int) -> Texts:
    encoded = text.encode()
    return np.full(n, len(encoded), np.int32), encoded * n


def _numbered(prefix: str, start: int, n: int) -> Texts:
    """`prefix` followed by each of start..start+n-1, built as byte matrices, one per count of
    digits (32k names of an array's rows: 12 ms as Python strings, under 2 ms so)."""
    head = np.frombuffer(prefix.encode(), np.uint8)
    indices = np.arange(start, start + n)
    bounds = [0, *(int(np.searchsorted(indices, 10**k)) for k in range(1, 19) if 10**k <= indices[-1]), n] if n else [0]
    lengths, data = [], []
    for lo, hi in itertools.pairwise(bounds):
        if lo < hi:
            width = len(str(indices[lo]))
            block = np.concatenate(
                [np.broadcast_to(head, (hi - lo, len(head))), decimal(indices[lo:hi], width)], axis=1
            )
            lengths.append(np.full(hi - lo, len(head) + width, np.int32))
            data.append(block.tobytes())
    return (np.concatenate(lengths) if lengths else np.zeros(0, np.int32)), b"".join(data)


def _strings(pa, runs: list[Texts]):
    offsets = np.zeros(sum(len(lengths) for lengths, _ in runs) + 1, np.int32)  # a row group's texts stay below 2 GiB
    if len(offsets) > 1:
        np.cumsum(np.concatenate([lengths for lengths, _ in runs]), out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(b"".join(d for _, d in runs))
    )
