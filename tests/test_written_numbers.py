"""training/evaluation/written_numbers.py: numbers written as people write them, from 28x28 digits:
left to right, on one baseline, each scaled and slanted, the gaps between their ink boxes drawn from
the range asked for."""

from __future__ import annotations

import itertools

import numpy as np

from helpers import font_digits
from mnist_ann.training.evaluation.written_numbers import MARGIN, number_ink


def _columns_of_ink(ink: np.ndarray) -> list[tuple[int, int]]:
    """The runs of columns that hold ink above 0.1, as (first, last)."""
    inked = np.flatnonzero((ink > 0.1).any(axis=0))
    breaks = np.flatnonzero(np.diff(inked) > 1)
    starts, ends = np.r_[inked[0], inked[breaks + 1]], np.r_[inked[breaks], inked[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def test_digits_stand_side_by_side_the_gaps_apart():
    digits = font_digits()[:4]
    for seed in range(20):
        ink = number_ink(list(digits), np.random.default_rng(seed), gaps=(2, 5))
        assert ink.dtype == np.float32 and ink.min() >= 0 and ink.max() <= 1
        runs = _columns_of_ink(ink)
        assert len(runs) == 4, runs  # (these glyphs are each one run of columns)
        gaps = [b[0] - a[1] - 1 for a, b in itertools.pairwise(runs)]
        assert all(2 <= gap <= 5 for gap in gaps), gaps
        assert runs[0][0] >= MARGIN[0] and ink.shape[1] - 1 - runs[-1][1] >= MARGIN[0]


def test_each_digit_has_its_own_size():
    digit = font_digits()[:1]
    heights = set()
    for seed in range(10):
        ink = number_ink(list(digit) * 2, np.random.default_rng(seed))
        runs = _columns_of_ink(ink)
        heights |= {int(np.ptp(np.flatnonzero((ink[:, a : b + 1] > 0.1).any(axis=1)))) for a, b in runs}
    assert max(heights) - min(heights) >= 5, heights  # 0.8-1.3 of a 20-pixel digit
