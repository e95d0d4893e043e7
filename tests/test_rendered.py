"""training/evaluation/rendered.py: the evaluate stage's rendered set, the same on every run, every picture a
digit that preparation accepts and frames."""

from __future__ import annotations

import numpy as np

from mnist_ann.core.framing import prepare
from mnist_ann.training.evaluation.rendered import COUNT, glyph, rendered_set


def test_the_set_is_seeded_and_labelled_in_turn():
    pictures, labels = rendered_set(30, seed=1)
    again, _ = rendered_set(30, seed=1)
    assert len(pictures) == 30 and all(np.array_equal(a, b) for a, b in zip(pictures, again))
    assert labels.tolist() == [i % 10 for i in range(30)]
    other, _ = rendered_set(30, seed=2)
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(pictures, other))


def test_it_holds_crops_scans_and_photos_and_preparation_refuses_none():
    pictures, _ = rendered_set()
    assert len(pictures) == COUNT
    kinds = [(np.median(p[0]) > 128, p.shape[0] > 1.5 * 28) for p in pictures[:30]]
    assert (False, False) in kinds or (False, True) in kinds  # light on black
    assert any(light for light, _ in kinds)  # ink on paper
    prepared = [prepare(p[None], "auto", "mnist") for p in pictures]
    assert [reasons[0] for _, _, reasons in prepared] == [None] * COUNT


def test_a_glyph_is_slanted_turned_and_cropped_to_its_ink():
    upright = glyph(1, "DejaVuSans.ttf", 60, pen=1, slant=0.0, turn=0.0)
    slanted = glyph(1, "DejaVuSans.ttf", 60, pen=1, slant=0.4, turn=0.0)
    assert upright.dtype == np.float32 and upright.max() == 1.0
    assert upright[0].max() > 0 and upright[-1].max() > 0 and upright[:, 0].max() > 0  # cropped
    assert slanted.shape[1] > upright.shape[1] + 5  # a "1" leant over is wider
