"""csv_bytes.py: the numbers of CSV prediction rows as bytes, block by block."""

from __future__ import annotations

import numpy as np

from mnist_ann.predict.outputs.csv_bytes import decimal, fixed, flags, numeric_columns


def test_numbers_are_written_as_python_would_write_them():
    values = np.array([0, 1, 0.5, 1 / 3, 0.9999996, 2.0, -1.0], np.float32)
    assert [row.tobytes().decode() for row in fixed(values)] == [
        "0.000000", "1.000000", "0.500000", "0.333333", "1.000000", "1.000000", "0.000000",
    ]  # fmt: skip
    assert [row.tobytes().decode() for row in decimal(np.array([7, 42, 123]), 3)] == ["007", "042", "123"]
    assert [row.tobytes().decode() for row in flags(np.array([True, False]), b"\n")] == [",1\n", ",0\n"]


def test_a_rows_columns_are_label_confidence_and_probabilities():
    probabilities = np.zeros((1, 10), np.float32)
    probabilities[0, 3] = 1
    row = numeric_columns(probabilities, True, b"!")[0].tobytes().decode()
    assert row == ",3,1.000000" + "".join(",1.000000" if d == 3 else ",0.000000" for d in range(10)) + "!"
    assert numeric_columns(probabilities, False, b"")[0].tobytes().decode() == ",3,1.000000"
