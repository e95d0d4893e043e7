"""training/evaluation/robustness.py: fixed, seeded variants of the test digits, and the accuracy on each (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import font_digits
from mnist_ann.training.evaluation.robustness import accuracies, as_digits, photographed, stroked, variants


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


def test_thin_strokes_are_the_cross_erosion_and_stay_unbroken():
    from scipy import ndimage

    digits = font_digits()
    thin = stroked(digits, thicker=False)
    cross = ndimage.generate_binary_structure(2, 1)  # a pixel and its four neighbours
    expected = np.stack([ndimage.grey_erosion(d, footprint=cross, mode="constant", cval=0) for d in digits])
    np.testing.assert_array_equal(thin, expected)
    # thinner, not erased: every digit keeps a line (the 3x3 square left fragments of MNIST's digits)
    kept = thin.reshape(len(thin), -1).sum(axis=1) / digits.reshape(len(digits), -1).sum(axis=1)
    assert np.all((kept > 0.1) & (kept < 0.9))


def test_accuracies_name_every_figure_and_their_mean():
    digits, labels = font_digits(), np.arange(40) % 10
    zeros = accuracies(lambda images: np.eye(10)[np.zeros(len(images), int)], digits, labels)  # always "0"
    assert list(zeros) == [*variants(digits[:1]), "photo_gradient", "photo_ruled", "photo_squared", "rendered", "mean"]
    assert zeros["rendered"] == pytest.approx(0.1)  # 30 zeros among 300, none refused
    assert all(0 < value <= 0.1 + 1e-9 for value in zeros.values())  # the mean of twelve 0.1s is 0.1 and a last bit
    assert zeros["mean"] == pytest.approx(np.mean([v for name, v in zeros.items() if name != "mean"]))


def test_photos_go_through_predicts_preparation_and_a_refused_one_counts_as_wrong():
    digits = font_digits()
    photos, refused = photographed(digits, np.random.default_rng(0))
    assert photos.shape == digits.shape and photos.dtype == np.uint8 and not refused.any()
    assert np.abs(centre_of_mass(photos) - 14).max() < 1.5  # framed as MNIST's
    blank = np.zeros_like(digits[:2])
    _, refused = photographed(blank, np.random.default_rng(0))
    assert refused.all()  # nothing on the paper: refused, as predict refuses it


def test_model_pixels_come_back_as_their_digits():
    digits = font_digits()
    np.testing.assert_array_equal(as_digits(digits.reshape(40, 784).astype(np.float32) / 255), digits)
