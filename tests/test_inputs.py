"""inputs.py: the inputs predict finds under its arguments, and array files of every layout read in
chunks, scored as Keras scores the same pixels."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from helpers import DIGITS, assert_rows_match_keras, idx_bytes, predict, read_rows


@pytest.mark.parametrize("layout", ["npy-uint8-3d", "npy-float-flat", "npz-x", "npz-x_test", "idx", "idx-gz"])
def test_array_inputs(exported, tmp_path, layout):
    keras_model, model_path = exported
    images = DIGITS[:25]
    path = (
        tmp_path
        / {
            "npy-uint8-3d": "a.npy",
            "npy-float-flat": "a.npy",
            "npz-x": "a.npz",
            "npz-x_test": "a.npz",
            "idx": "t10k-images-idx3-ubyte",
            "idx-gz": "t10k-images-idx3-ubyte.gz",
        }[layout]
    )
    if layout == "npy-uint8-3d":
        np.save(path, images)
    elif layout == "npy-float-flat":
        np.save(path, images.reshape(25, 784).astype(np.float32) / 255)
    elif layout == "npz-x":
        np.savez(path, x=images, y=np.zeros(25))
    elif layout == "npz-x_test":
        np.savez_compressed(path, x_train=DIGITS[25:], x_test=images)
    elif layout == "idx":
        path.write_bytes(idx_bytes(images))
    else:
        path.write_bytes(gzip.compress(idx_bytes(images)))
    result = predict("--model", model_path, path, "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [f"{path}#{i}" for i in range(25)]
    assert_rows_match_keras(rows, keras_model, images)
    assert not (tmp_path / "out.errors.csv").exists()
