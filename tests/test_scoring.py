"""scoring.py: inputs scored in chunks, in their order; every kind of bad input is skipped, named and
listed, and the rest are scored."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PIL import Image

from helpers import BAD_INPUTS, assert_rows_match_keras, font_digits, predict, read_rows, write_bad_inputs
from mnist_ann.core.onnx_model import OnnxModel
from mnist_ann.predict.inputs.discovery import Input, kind_of
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import PredictionWriter
from mnist_ann.predict.scoring import score_inputs
from mnist_ann.predict.settings import BatchSettings


def test_inputs_are_scored_in_chunks_in_their_order(exported, tmp_path):
    keras_model, model_path = exported
    images = np.concatenate([font_digits()] * 3)  # 120 images, batches of 7, indices cross 10 and 100
    np.save(tmp_path / "big.npy", images)
    Image.fromarray(font_digits()[5]).save(tmp_path / "one.png")
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    inputs = [Input(str(tmp_path / name), kind_of(name)) for name in ("big.npy", "one.png", "bad.npy")]
    seen, out = [], io.BytesIO()

    outcome = score_inputs(
        OnnxModel(model_path),
        inputs,
        PredictionWriter(out, OutputSpec("csv", True)),
        BatchSettings(7),
        progress=seen.append,
    )

    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [row["source"] for row in rows] == [f"{tmp_path / 'big.npy'}#{i}" for i in range(120)] + [inputs[1].path]
    assert_rows_match_keras(rows, keras_model, [*images, font_digits()[5]])
    assert outcome.scored == 121 and [source for source, _ in outcome.errors] == [inputs[2].path]
    assert sum(seen) == 121 and max(seen) == 7


@pytest.mark.heavy
def test_bad_inputs_are_skipped_and_listed(exported, tmp_path):
    keras_model, model_path = exported
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_bad_inputs(folder)
    Image.fromarray(font_digits()[1]).save(folder / "good.png")
    np.save(folder / "good.npy", font_digits()[2:4])
    result = predict("--model", model_path, folder, tmp_path / "absent.png", "--output", tmp_path / "out.csv")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [
        str(folder / "good.npy") + "#0",
        str(folder / "good.npy") + "#1",
        str(folder / "good.png"),
    ]
    assert_rows_match_keras(rows, keras_model, [font_digits()[2], font_digits()[3], font_digits()[1]])
    errors = {row["source"]: row["error"] for row in read_rows(tmp_path / "out.errors.csv")}
    expected = {str(folder / name): reason for name, (_, reason) in BAD_INPUTS.items()}
    expected[str(tmp_path / "absent.png")] = "no such file or folder"
    assert set(errors) == set(expected)
    for source, reason in expected.items():
        assert reason in errors[source], (source, errors[source])
        assert any(line.endswith(f"skipped {source}: {errors[source]}") for line in result.stderr.splitlines())
