"""predict/outputs/uncertain.py: the rows a person should check, under --min-confidence."""

from __future__ import annotations

import numpy as np

from mnist_ann.predict.outputs.uncertain import several_rows, uncertain_rows


def test_low_confidence_and_several_marks_are_uncertain():
    confidence = np.array([0.99, 0.5, 0.99, 0.5], np.float32)
    several = several_rows(["mnist/light", "mnist/light", "mnist/light/2-marks", "none/dark/3-marks"])
    assert several.tolist() == [False, False, True, True]
    assert uncertain_rows(confidence, 0.9, several).tolist() == [False, True, True, True]
    assert uncertain_rows(confidence, 0.9).tolist() == [False, True, False, True]  # array rows: no marks
    assert uncertain_rows(confidence, None, several).tolist() == [False, False, True, True]
