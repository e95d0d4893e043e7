"""trained.py: evaluate and export start from the same train outputs, loaded one way: the model, the
test split, and the sha256 of the model file by which they find train's run."""

from __future__ import annotations

import hashlib

import numpy as np

from helpers import tiny_mnist
from mnist_ann.core.mnist import preprocess
from mnist_ann.training.data import save_split
from mnist_ann.training.model import save_model
from mnist_ann.training.trained import load_trained


def test_loads_model_test_split_and_the_model_files_sha256(keras_exported, tmp_path):
    keras_model, _ = keras_exported
    raw = tiny_mnist(test=6)
    save_split(tmp_path / "processed", "test", preprocess(raw["x_test"]), raw["y_test"])
    save_model(keras_model, tmp_path / "model.keras")
    trained = load_trained(tmp_path / "processed", tmp_path / "model.keras")
    assert trained.model_sha256 == hashlib.sha256((tmp_path / "model.keras").read_bytes()).hexdigest()
    assert np.array_equal(trained.y_test, raw["y_test"])
    np.testing.assert_array_equal(
        trained.model.predict(trained.x_test, verbose=0), keras_model.predict(trained.x_test, verbose=0)
    )
