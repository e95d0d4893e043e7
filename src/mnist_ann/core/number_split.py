"""A number's digits, left to right: what `--digits many` frames one by one. The picture's ink (its
page's marks already out, page_marks.py) is cut into marks, the marks into digits:

- a mark is ink that touches (8-connected) at INK strength. Not widened, as the count of marks in
  single-digit mode is (page_marks._marks): handwritten digits a pixel or two apart must come apart.
- marks one above the other, their columns overlapping by more than half the narrower one's width,
  are one digit's parts: a 4 in two strokes, a 5's bar lifted off its body, a faint stroke broken.
- a mark under AS_TALL the tallest digit's height is no digit: a dot, a comma, a dash, a short
  stray stroke. Not its ink: a thin 1, or a faint 5, weighs a fifth of a bold 8 beside it.
Each digit keeps its own marks' ink, and the faint ink around them, so that a neighbour's stroke
reaching into its box is not framed with it.

What this cannot do: digits that touch or overlap are one mark and read as one digit; a digit
whose strokes lie side by side without one above the other (rare in handwriting) comes apart; a
number inside other drawing takes the drawing's strokes as digits.

numpy and scipy.ndimage (labelling)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .page_marks import INK

OVERLAP = 0.5  # marks whose columns overlap by more than this share of the narrower's are one digit
AS_TALL = 0.35  # a digit stands at least this share of the tallest one's height


class _Digit(NamedTuple):
    """A digit's marks, its columns [left, right), rows [top, bottom) and ink."""

    marks: list[int]
    left: int
    right: int
    top: int
    bottom: int
    mass: float


def number_digits(ink: np.ndarray) -> list[np.ndarray]:
    """One picture's (h, w) ink strengths as its digits, left to right: per digit, the picture's
    ink with everything but that digit's marks cleared (so that framing takes its box and centre
    from its own strokes). [] for a picture without ink."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > INK, np.ones((3, 3)))
    if count == 0:
        return []
    masses = ndimage.sum_labels(ink, labels, np.arange(1, count + 1))
    marks = sorted(
        (
            _Digit([number], box[1].start, box[1].stop, box[0].start, box[0].stop, float(mass))
            for number, (box, mass) in enumerate(zip(ndimage.find_objects(labels), masses), 1)
        ),
        key=lambda mark: mark.left,
    )
    digits = [marks[0]]
    for mark in marks[1:]:
        last = digits[-1]
        overlap = min(mark.right, last.right) - max(mark.left, last.left)
        if overlap > OVERLAP * min(mark.right - mark.left, last.right - last.left):
            digits[-1] = _merged(last, mark)
        else:
            digits.append(mark)
    tallest = max(digit.bottom - digit.top for digit in digits)
    kept = [digit for digit in digits if digit.bottom - digit.top >= AS_TALL * tallest]
    owner = np.full(count + 1, -1)  # each mark's digit; -1: no digit's (a dot), or no mark (0)
    for k, digit in enumerate(kept):
        owner[digit.marks] = k
    owner[0] = -1
    marked = owner[labels]
    # Ink too faint to be in a mark (a stroke's soft edge, the faint half of a loop) goes with the
    # digit whose columns it lies in; between two digits, the nearer one's.
    columns = np.zeros(ink.shape[1], int)
    for k in range(1, len(kept)):
        columns[(kept[k - 1].right + kept[k].left) // 2 :] = k
    faint = labels == 0
    return [
        np.where((marked == k) | (faint & (columns == k)[None, :]), ink, 0).astype(ink.dtype) for k in range(len(kept))
    ]


def _merged(digit: _Digit, mark: _Digit) -> _Digit:
    return _Digit(
        digit.marks + mark.marks,
        min(digit.left, mark.left),
        max(digit.right, mark.right),
        min(digit.top, mark.top),
        max(digit.bottom, mark.bottom),
        digit.mass + mark.mass,
    )
