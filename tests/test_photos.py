"""training/evaluation/photos.py: a digit photographed on grey paper, its light uneven, with noise."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_ann.training.evaluation.photos import LIGHTS, on_paper, placed


def test_the_ink_is_darker_than_the_paper_around_it_and_the_light_varies():
    ink = np.zeros((60, 60), np.float32)
    ink[25:35, 10:50] = 1  # a bar
    spans = []
    for seed in range(12):
        photo = on_paper(ink, np.random.default_rng(seed), max_gradient=120, noise=6)
        assert photo.dtype == np.float32 and photo.shape == ink.shape
        assert photo.min() >= 0 and photo.max() <= 255
        paper_next_to_it = photo[15:22, 10:50]
        assert np.median(photo[27:33, 12:48]) < np.median(paper_next_to_it) - 60
        spans.append(np.percentile(photo[:20], 95) - np.percentile(photo[:20], 5))
    assert max(spans) > 40  # some of these photos' paper is lit unevenly, by far more than noise


def test_a_seed_gives_the_same_photo():
    ink = placed(np.ones((5, 5), np.float32), 20, np.random.default_rng(1))
    assert ink.sum() == 25 and ink.shape == (20, 20)
    first, again = (on_paper(ink, np.random.default_rng(3)) for _ in range(2))
    assert np.array_equal(first, again)


@pytest.mark.parametrize("side", [5, 6])
def test_placed_fits_the_ink_on_the_page(side):
    ink = np.ones((5, 5), np.float32)
    for seed in range(20):
        assert placed(ink, side, np.random.default_rng(seed)).sum() == 25


def test_every_light_is_drawn():
    drawn = {LIGHTS[np.random.default_rng(seed).integers(len(LIGHTS))] for seed in range(30)}
    assert drawn == set(LIGHTS)


@pytest.mark.parametrize("paper", ["ruled", "squared"])
def test_lined_paper_has_lines_across_it_and_keeps_the_digit(paper):
    from mnist_ann.training.evaluation.photos import lined

    ink = np.zeros((56, 56), np.float32)
    ink[18:38, 26:29] = 1
    for seed in range(10):
        page = lined(ink, np.random.default_rng(seed), paper, 20)
        assert np.array_equal(page[ink > 0], ink[ink > 0])
        rows_with_line = (page[:, :20] > 0).mean(axis=1) > 0.5  # left of the digit: lines only
        assert 1 <= rows_with_line.sum() <= 12  # 2 or 3 lines of 1-2 pixels at 14-32 apart
        columns_with_line = (page[:18] > 0).mean(axis=0) > 0.5  # above the digit
        assert columns_with_line.any() == (paper == "squared")
