"""training/data.py: the pinned MNIST arrays and their check, and the preprocess stage's splits."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.core.errors import DataError
from mnist_ann.core.mnist import preprocess
from mnist_ann.training.data import MNIST, check_layout, first_or_all, load_split, save_split, spec_of, verify


def test_first_or_all_keeps_all_for_zero():
    labels = np.arange(10)
    assert len(first_or_all(labels, 0)) == 10 and list(first_or_all(labels, 3)) == [0, 1, 2]


def test_verify_accepts_exact_and_names_what_differs():
    arrays = tiny_mnist()
    spec = spec_of(arrays)
    verify(arrays, spec)
    with pytest.raises(DataError, match="y_test is missing"):
        verify({k: v for k, v in arrays.items() if k != "y_test"}, spec)
    changed = dict(arrays, x_train=arrays["x_train"].copy())
    changed["x_train"][0, 0, 0] ^= 1
    with pytest.raises(DataError, match="x_train has the right shape but not the expected content"):
        verify(changed, spec)
    with pytest.raises(DataError, match=r"y_train is int64 \(30,\), expected uint8 \(30,\)"):
        verify(dict(arrays, y_train=arrays["y_train"].astype(np.int64)), spec)


def test_canonical_spec_is_the_keras_layout():
    assert {k: (s.shape, s.dtype) for k, s in MNIST.items()} == {
        "x_train": ((60000, 28, 28), "uint8"),
        "y_train": ((60000,), "uint8"),
        "x_test": ((10000, 28, 28), "uint8"),
        "y_test": ((10000,), "uint8"),
    }


def test_check_layout_names_the_bad_array():
    arrays = tiny_mnist()
    check_layout(arrays)
    with pytest.raises(DataError, match=r"x_test is float32 \(10, 784\), expected uint8 \(N, 28, 28\)"):
        check_layout(dict(arrays, x_test=np.zeros((10, 784), np.float32)))
    with pytest.raises(DataError, match="x_train has 30 images but y_train has 29 labels"):
        check_layout(dict(arrays, y_train=arrays["y_train"][:29]))


def test_split_round_trip(tmp_path):
    """save_split and load_split agree on the file layout the preprocess stage writes."""
    raw = tiny_mnist(train=6, test=3)
    images = preprocess(raw["x_test"])
    save_split(tmp_path / "processed", "test", images, raw["y_test"])
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["x_test.npy", "y_test.npy"]
    loaded_images, loaded_labels = load_split(tmp_path / "processed", "test")
    assert np.array_equal(loaded_images, images) and np.array_equal(loaded_labels, raw["y_test"])
    with pytest.raises(FileNotFoundError):
        load_split(tmp_path / "processed", "train")
