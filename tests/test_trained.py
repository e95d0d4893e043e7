"""trained.py: evaluate and export start from the same three train outputs, loaded one way; a
damaged run-id file is one line."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.core.errors import TrackingError
from mnist_ann.core.mnist import preprocess
from mnist_ann.tracking import write_run_file
from mnist_ann.training.data import save_split
from mnist_ann.training.model import save_model
from mnist_ann.training.trained import load_trained


def test_loads_model_test_split_and_run(keras_exported, tmp_path):
    keras_model, _ = keras_exported
    raw = tiny_mnist(test=6)
    save_split(tmp_path / "processed", "test", preprocess(raw["x_test"]), raw["y_test"])
    save_model(keras_model, tmp_path / "model.keras")
    write_run_file(tmp_path / "run.json", "b" * 32, "mnist-ann")
    trained = load_trained(tmp_path / "processed", tmp_path / "model.keras", tmp_path / "run.json")
    assert trained.run_id == "b" * 32 and np.array_equal(trained.y_test, raw["y_test"])
    np.testing.assert_array_equal(
        trained.model.predict(trained.x_test, verbose=0), keras_model.predict(trained.x_test, verbose=0)
    )
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(TrackingError, match="run.json: not a run-id file"):
        load_trained(tmp_path / "processed", tmp_path / "model.keras", tmp_path / "run.json")
