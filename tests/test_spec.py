"""predict/outputs/spec.py: one description of what predict writes. Every format's columns are its
header, and the errors file's name is spelled once."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from mnist_ann.predict.outputs.spec import FORMATS, OutputSpec, errors_name
from mnist_ann.predict.outputs.writers import PredictionWriter, errors_path


def test_the_columns_follow_the_options():
    assert OutputSpec().header() == ["source", "label", "confidence", *[f"prob_{d}" for d in range(10)], "prepared"]
    assert OutputSpec("csv", False, 0.9).header() == ["source", "label", "confidence", "prepared", "uncertain"]


@pytest.mark.parametrize("spec", [OutputSpec(), OutputSpec(with_probabilities=False, min_confidence=0.5)])
def test_every_format_writes_the_specs_columns(spec):
    import pyarrow.parquet as pq

    probabilities = np.eye(10, dtype=np.float32)[:2]
    columns = {}
    for fmt in FORMATS:
        buffer = io.BytesIO()
        writer = PredictionWriter(buffer, OutputSpec(fmt, spec.with_probabilities, spec.min_confidence))
        writer.write(["a.png", "b.png"], probabilities, ["mnist/dark"] * 2)
        writer.finish()
        data = buffer.getvalue()
        if fmt == "csv":
            columns[fmt] = data.decode().splitlines()[0].split(",")
        elif fmt == "jsonl":  # the ten probabilities as one list: `probabilities` stands for prob_0..prob_9
            keys = [*json.loads(data.decode().splitlines()[0])]
            columns[fmt] = [
                k for key in keys for k in ([f"prob_{d}" for d in range(10)] if key == "probabilities" else [key])
            ]
        else:
            columns[fmt] = pq.read_table(io.BytesIO(data)).column_names
    assert columns["csv"] == columns["parquet"] == columns["jsonl"] == spec.header()


def test_the_errors_file_is_named_once_for_files_and_objects():
    assert errors_name("predictions.parquet") == "predictions.errors.csv" == errors_path("out/predictions.csv").name
