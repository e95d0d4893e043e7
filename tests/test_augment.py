"""augment/: each epoch's distortions, vectorised; the same for a seed, off when all ranges are 0."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mnist_ann.core.mnist import preprocess
from mnist_ann.training.augment import CHUNK, Distortions, distort, epoch_distorter
from mnist_ann.training.augment.distortions import _draw
from mnist_ann.training.augment.resample import Workspace, warp

EVERYTHING = Distortions(rotation=20, scale=0.3, shear=15, shift=3, stroke=0.6, blur=0.3, noise=30)


@pytest.fixture(scope="module")
def digits():
    """Blocky 'digits': a bright rectangle per image, somewhere near the middle, on black."""
    rng = np.random.default_rng(3)
    images = np.zeros((CHUNK + 37, 28, 28), np.uint8)  # more than a chunk: the last one is partial
    for image in images:
        top, left = rng.integers(5, 12, 2)
        image[top : top + rng.integers(8, 14), left : left + rng.integers(4, 12)] = rng.integers(120, 256)
    return preprocess(images)


def test_nothing_on_is_the_plain_training(digits):
    assert not Distortions().active
    assert epoch_distorter(Distortions(), seed=1) is None
    assert distort(digits, Distortions(), seed=1, epoch=0) is digits


def test_the_same_seed_and_epoch_give_the_same_images_whatever_the_threads(digits):
    once = distort(digits, EVERYTHING, seed=7, epoch=3, threads=1)
    assert np.array_equal(once, distort(digits, EVERYTHING, seed=7, epoch=3, threads=2))
    assert not np.array_equal(once, distort(digits, EVERYTHING, seed=7, epoch=4))
    assert not np.array_equal(once, distort(digits, EVERYTHING, seed=8, epoch=3))
    assert once.dtype == np.float32 and once.shape == digits.shape
    assert once.min() >= 0 and once.max() <= 1


def test_the_input_is_left_as_it_was(digits):
    before = digits.copy()
    distort(digits, EVERYTHING, seed=1, epoch=0)
    assert np.array_equal(digits, before)


def test_the_warp_is_bilinear_resampling_through_each_images_own_map(digits):
    """Against scipy's affine_transform, one image at a time (the reference the vectorised code
    must agree with), for maps that turn, scale, slant and move."""
    draws = _draw(64, Distortions(rotation=30, scale=0.3, shear=20, shift=4), np.random.default_rng(5))
    warped = warp(digits[:64], draws.inverse, draws.offset, Workspace(64))
    centre = np.array([13.5, 13.5])
    for image, inverse, offset, ours in zip(digits[:64].reshape(-1, 28, 28), draws.inverse, draws.offset, warped):
        by_rows = inverse[::-1, ::-1]  # ours maps (x, y) = (column, row); scipy maps (row, column)
        reference = ndimage.affine_transform(
            image, by_rows, offset=offset[::-1] - by_rows @ centre, order=1, mode="grid-constant", cval=0
        )
        np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_a_shift_moves_the_digit_by_whole_pixels(digits):
    inverse = np.tile(np.eye(2, dtype=np.float32), (4, 1, 1))
    offset = np.tile(np.float32([13.5 - 2, 13.5 + 3]), (4, 1))  # 2 right, 3 up
    moved = warp(digits[:4], inverse, offset, Workspace(4))
    expected = np.zeros((4, 28, 28), np.float32)
    expected[:, :-3, 2:] = digits[:4].reshape(-1, 28, 28)[:, 3:, :-2]
    np.testing.assert_allclose(moved, expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["thicker", "thinner"])
def test_strokes_get_bolder_or_thinner(digits, kind):
    changed = distort(digits, Distortions(stroke=1.0), seed=2, epoch=0)
    draws = _draw(len(digits), Distortions(stroke=1.0), np.random.default_rng([2, 0]))
    chosen = draws.stroke == (1 if kind == "thicker" else -1)
    ink_before, ink_after = digits[chosen].sum(axis=1), changed[chosen].sum(axis=1)
    assert chosen.sum() > 100
    assert (ink_after > ink_before).all() if kind == "thicker" else (ink_after < ink_before).all()


def test_blur_and_noise_change_only_the_texture(digits):
    blurred = distort(digits, Distortions(blur=1.0), seed=2, epoch=0)
    assert np.abs(blurred.sum(axis=1) - digits.sum(axis=1)).max() < 0.1 * digits.sum(axis=1).max()
    assert (np.abs(blurred - digits).max(axis=1) > 0.05).all()  # every digit was blurred
    noisy = distort(digits, Distortions(noise=40), seed=2, epoch=0)
    spread = (noisy - digits)[:, :100].std(axis=1)  # the black corner: noise, clipped at 0
    assert 0 < np.median(spread) < 40 / 255


def test_an_order_gives_the_shuffled_images_distorted_as_in_place(digits):
    order = np.random.default_rng(4).permutation(len(digits))
    shuffled = distort(digits, EVERYTHING, seed=7, epoch=1, order=order)
    assert not np.array_equal(shuffled, distort(digits, EVERYTHING, seed=7, epoch=1))
    # the images distorted in place, then shuffled: each keeps its own draws
    np.testing.assert_array_equal(shuffled, distort(digits, EVERYTHING, seed=7, epoch=1)[order])
    np.testing.assert_array_equal(distort(digits, Distortions(), seed=7, epoch=1, order=order), digits[order])
