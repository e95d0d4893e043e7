"""outputs/number_rows.py and the writers' rows of numbers (--digits many): one row per picture, its
label the digits as text (leading zeros kept), its confidence the lowest digit's, then the count and
each digit's label and confidence, alike in CSV, JSON Lines and Parquet."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from mnist_ann.predict.outputs.number_rows import read_numbers
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import PredictionWriter


def _one_hot(labels: list[int], confidence: list[float]) -> np.ndarray:
    """Probabilities whose top class is each label, at each confidence (the rest spread evenly)."""
    rows = np.array([[(1 - c) / 9] * 10 for c in confidence], np.float32)
    rows[np.arange(len(labels)), labels] = confidence
    return rows


# Two pictures: "2024" (its least sure digit 0.6) and "07" (a leading zero)
PROBABILITIES = _one_hot([2, 0, 2, 4, 0, 7], [0.99, 0.6, 0.98, 0.97, 0.95, 0.9])
COUNTS = [4, 2]


def test_numbers_are_read_left_to_right_as_sure_as_their_least_sure_digit():
    numbers = read_numbers(PROBABILITIES, COUNTS)
    assert numbers.labels == ["2024", "07"]
    assert numbers.confidences.tolist() == pytest.approx([0.6, 0.9])
    assert numbers.digit_labels == [[2, 0, 2, 4], [0, 7]]
    assert numbers.digit_confidences[1] == pytest.approx([0.95, 0.9])


def _written(fmt: str, min_confidence: float | None = 0.8) -> bytes:
    buffer = io.BytesIO()
    writer = PredictionWriter(buffer, OutputSpec(fmt, min_confidence=min_confidence, numbers=True))
    writer.write(["a/2024.png", "b, 07.png"], PROBABILITIES, ["mnist/light", "mnist/dark"], COUNTS)
    writer.write_array_rows("x.npy", 5, _one_hot([3], [0.99]))  # an array's row: a number of one digit
    writer.finish()
    assert writer.rows == 3
    return buffer.getvalue()


def test_csv_rows_of_numbers():
    rows = list(csv.DictReader(io.StringIO(_written("csv").decode())))
    assert list(rows[0]) == ["source", "label", "confidence", "digits", "digit_labels", "digit_confidences",
                             "prepared", "uncertain"]  # fmt: skip
    assert [row["label"] for row in rows] == ["2024", "07", "3"]  # text: the zero stays
    assert rows[0]["confidence"] == "0.600000" and rows[0]["uncertain"] == "1" and rows[1]["uncertain"] == "0"
    assert rows[0]["digit_labels"] == "2 0 2 4" and rows[1]["digits"] == "2"
    assert rows[1]["digit_confidences"] == "0.950000 0.900000" and rows[1]["source"] == "b, 07.png"
    assert rows[2]["source"] == "x.npy#5" and rows[2]["prepared"] == "as-is"


def test_json_lines_of_numbers():
    records = [json.loads(line) for line in _written("jsonl").decode().splitlines()]
    assert records[0] == {
        "source": "a/2024.png",
        "label": "2024",
        "confidence": 0.6,
        "digits": 4,
        "digit_labels": [2, 0, 2, 4],
        "digit_confidences": [0.99, 0.6, 0.98, 0.97],
        "prepared": "mnist/light",
        "uncertain": True,
    }
    assert records[1]["label"] == "07" and records[2]["digit_labels"] == [3]


def test_parquet_rows_of_numbers():
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(_written("parquet", None)))
    assert table.schema.field("label").type == pa.string()
    assert table.schema.field("digit_labels").type == pa.list_(pa.uint8())
    assert "uncertain" not in table.column_names and "prob_0" not in table.column_names
    rows = table.to_pylist()
    assert [row["label"] for row in rows] == ["2024", "07", "3"]
    assert rows[0]["digit_labels"] == [2, 0, 2, 4] and rows[0]["digits"] == 4
    assert rows[0]["digit_confidences"] == pytest.approx([0.99, 0.6, 0.98, 0.97])
    assert rows[0]["confidence"] == pytest.approx(0.6)


def test_a_number_of_hundreds_of_digits_is_written_in_every_format():
    """A tight crop of 296 strokes is a number of 296 ones: more than a uint8 holds (Parquet's
    `digits` once stopped the run with a traceback)."""
    import pyarrow.parquet as pq

    count = 296
    probabilities = _one_hot([1] * count, [0.9] * count)
    for fmt in ("csv", "jsonl", "parquet"):
        buffer = io.BytesIO()
        writer = PredictionWriter(buffer, OutputSpec(fmt, numbers=True))
        writer.write(["ones.png"], probabilities, ["mnist/light"], [count])
        writer.finish()
        if fmt == "parquet":
            row = pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()[0]
        elif fmt == "jsonl":
            row = json.loads(buffer.getvalue())
        else:
            row = next(csv.DictReader(io.StringIO(buffer.getvalue().decode())))
        assert int(row["digits"]) == count and row["label"] == "1" * count, fmt
