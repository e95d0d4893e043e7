"""core/mnist.py: `preprocess`, the one way images become model input, for training and inference."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.core.errors import DataError
from mnist_ann.core.mnist import preprocess


def test_preprocess_matches_the_seed_formula():
    images = tiny_mnist()["x_train"]
    x = preprocess(images)
    assert x.shape == (30, 784) and x.dtype == np.float32
    # The seed: tf.reshape(tf.cast(x, tf.float32) / 255., [784]), image by image.
    expected = np.stack([(image.astype(np.float32) / np.float32(255.0)).reshape(784) for image in images])
    np.testing.assert_array_equal(x, expected)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_preprocess_extremes_and_flat_input():
    images = np.array([np.zeros((28, 28)), np.full((28, 28), 255)], dtype=np.uint8)
    x = preprocess(images.reshape(2, 784))
    assert x[0].max() == 0.0 and x[1].min() == 1.0


def test_preprocess_keeps_float_input_in_range():
    floats = np.random.default_rng(1).random((4, 28, 28))
    x = preprocess(floats)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, floats.reshape(4, 784).astype(np.float32))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((3, 27, 28), np.uint8), r"shape \(N, 28, 28\) or \(N, 784\), got \(3, 27, 28\)"),
        (np.zeros((784,), np.uint8), r"got \(784,\)"),
        (np.full((2, 784), 256, np.int32), "integer pixels must be 0-255, got 256..256"),
        (np.full((2, 784), -1, np.int16), "integer pixels must be 0-255, got -1"),
        (np.full((2, 784), np.nan, np.float32), "must be finite"),
        (np.full((2, 784), np.inf, np.float64), "must be finite"),
        (np.full((2, 784), 1.5, np.float32), r"float pixels must be in \[0, 1\], got 1.5"),
        (np.full((2, 784), "x", object), "pixels must be integers 0-255 or floats 0-1, got dtype object"),
    ],
)
def test_preprocess_rejects_bad_arrays(images, message):
    with pytest.raises(DataError, match=message):
        preprocess(images)
