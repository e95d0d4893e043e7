"""robustness.py: fixed, seeded variants of the test digits, and the accuracy on each (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import font_digits
from mnist_ann.robustness import accuracies, as_digits, variants


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    weights = images.astype(np.float64)
    rows, cols = np.indices(images.shape[1:])
    total = weights.sum(axis=(1, 2))
    return np.stack([(weights * rows).sum(axis=(1, 2)) / total, (weights * cols).sum(axis=(1, 2)) / total], axis=1)


def test_variants_are_the_same_on_every_run_and_change_what_they_say():
    digits = font_digits()
    first, again = variants(digits), variants(digits)
    assert list(first) == ["shift_3px", "rotate_20deg", "scale_0.7", "scale_1.3", "thick", "thin", "blur", "noise"]
    for name, images in first.items():
        assert images.dtype == np.uint8 and images.shape == digits.shape, name
        np.testing.assert_array_equal(images, again[name], err_msg=name)  # seeded: the same images
        assert not np.array_equal(images, digits), name
    moved = np.abs(centre_of_mass(first["shift_3px"]) - centre_of_mass(digits)).max(axis=1)
    assert np.all((moved > 2) & (moved < 4.5))  # 3 pixels along a row, a column or a diagonal
    ink = {name: (images > 127).sum() for name, images in first.items()}
    assert ink["thick"] > (digits > 127).sum() > ink["thin"]
    boxes = {
        name: (images > 127).any(axis=1).sum(axis=1).mean() for name, images in [("plain", digits), *first.items()]
    }
    assert boxes["scale_0.7"] < boxes["plain"] < boxes["scale_1.3"]


def test_accuracies_name_each_variant_and_their_mean():
    digits, labels = font_digits(), np.arange(40) % 10
    oracle = accuracies(lambda images: np.eye(10)[labels], digits, labels)  # always right
    assert oracle == {**{name: 1.0 for name in variants(digits[:1])}, "mean": 1.0}
    guess = accuracies(lambda images: np.eye(10)[np.zeros(len(images), int)], digits, labels)  # always 0
    assert guess["mean"] == pytest.approx(0.1)


def test_model_pixels_come_back_as_their_digits():
    digits = font_digits()
    np.testing.assert_array_equal(as_digits(digits.reshape(40, 784).astype(np.float32) / 255), digits)
