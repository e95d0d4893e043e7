"""mirror.py: the registry mirror's MNIST pickle becomes the exact Keras-layout arrays; anything
else is refused by name."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.core.errors import DataError
from mnist_ann.training.data import spec_of, verify
from mnist_ann.training.download.mirror import from_pickled_splits, read_mnist_pickle


def test_mirror_layout_converts_exactly():
    """Pixels stored as float32 v/256 and train+valid splits become the original uint8 arrays."""
    original = tiny_mnist(train=30, test=10)
    x_fraction = (original["x_train"].reshape(30, 784).astype(np.float32) / 256).astype(np.float32)
    splits = (
        (x_fraction[:20], original["y_train"][:20].astype(np.int64)),
        (x_fraction[20:], original["y_train"][20:].astype(np.int64)),
        ((original["x_test"].reshape(10, 784) / 256).astype(np.float32), original["y_test"].astype(np.int64)),
    )
    converted = from_pickled_splits(splits)
    verify(converted, spec_of(original))


@pytest.mark.parametrize(
    "splits, message",
    [
        ("not splits", "not the MNIST"),
        (((np.full((1, 784), 0.3, np.float32), np.zeros(1)),) * 3, "not whole multiples of 1/256"),
        (((np.zeros((1, 784), np.float32), np.array([10])),) * 3, "labels must be 0-9"),
    ],
)
def test_mirror_layout_rejects_other_content(splits, message):
    with pytest.raises(DataError, match=message):
        from_pickled_splits(splits)


def test_gzipped_pickle_is_read_with_the_array_only_unpickler(tmp_path):
    original = tiny_mnist(train=4, test=2)
    splits = tuple(
        ((original[f"x_{s}"].reshape(-1, 784) / 256).astype(np.float32), original[f"y_{s}"].astype(np.int64))
        for s in ("train", "train", "test")
    )
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(splits, protocol=2)))
    arrays = read_mnist_pickle(path)
    assert np.array_equal(arrays["x_test"], original["x_test"]) and len(arrays["x_train"]) == 8
    (tmp_path / "bad.pkl.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="bad.pkl.gz: not a readable gzip file"):
        read_mnist_pickle(tmp_path / "bad.pkl.gz")
