"""scoring.py: inputs scored in chunks, in their order; every kind of bad input is skipped, named and
listed, and the rest are scored."""

from __future__ import annotations

import numpy as np
from PIL import Image

from helpers import BAD_INPUTS, assert_rows_match_keras, font_digits, predict, read_rows, write_bad_inputs


def test_array_larger_than_a_batch_is_scored_in_chunks(exported, tmp_path):
    keras_model, model_path = exported
    images = np.concatenate([font_digits()] * 3)  # 120 images, batches of 7, indices cross 10 and 100
    np.save(tmp_path / "big.npy", images)
    result = predict("--model", model_path, tmp_path / "big.npy", "--output", tmp_path / "out.csv", "--batch-size", 7)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [f"{tmp_path / 'big.npy'}#{i}" for i in range(120)]
    assert_rows_match_keras(rows, keras_model, images)


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
