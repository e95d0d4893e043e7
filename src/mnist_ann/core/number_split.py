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

FAINT_EDGE = 2  # framing's box ends this many pixels past a digit's firm ink at most (framing._extent)

OVERLAP = 0.5  # marks whose columns overlap by more than this share of the narrower's are one digit
AS_TALL = 0.35  # a digit stands at least this share of the tallest one's height


class _Digit(NamedTuple):
    """A digit's marks, its columns [left, right) and rows [top, bottom)."""

    marks: list[int]
    left: int
    right: int
    top: int
    bottom: int


class DigitInk(NamedTuple):
    """One digit's ink, in its own box (its marks' and FAINT_EDGE pixels around it: framing's box
    ends there, framing._extent), everything else in that box cleared; where the box lies."""

    ink: np.ndarray
    top: int
    left: int


def number_digits(ink: np.ndarray) -> list[DigitInk]:
    """One picture's (h, w) ink strengths as its digits, left to right: per digit, its marks' ink
    and the faint ink around them in its box, everything else cleared (so that framing takes its box
    and centre from its own strokes). [] for a picture without ink."""
    from scipy import ndimage

    # Studied in the box of all its ink: a phone's photo is mostly paper.
    inked_rows, inked_cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(inked_rows) == 0:
        return []
    top, left = int(inked_rows[0]), int(inked_cols[0])
    ink = ink[top : inked_rows[-1] + 1, left : inked_cols[-1] + 1]
    labels, count = ndimage.label(ink > INK, np.ones((3, 3)))
    if count == 0:
        return []
    marks = sorted(
        (
            _Digit([number], box[1].start, box[1].stop, box[0].start, box[0].stop)
            for number, box in enumerate(ndimage.find_objects(labels), 1)
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
    # Ink too faint to be in a mark (a stroke's soft edge, the faint half of a loop) goes with the
    # digit whose columns it lies in; between two digits, the nearer one's.
    columns = np.zeros(ink.shape[1], int)
    for k in range(1, len(kept)):
        columns[(kept[k - 1].right + kept[k].left) // 2 :] = k
    digit_of = np.where(labels > 0, owner[labels], columns[None, :])  # each pixel's digit, or -1
    inks = [_digit_ink(ink, digit_of, k, digit) for k, digit in enumerate(kept)]
    return [DigitInk(found.ink, found.top + top, found.left + left) for found in inks]


def _digit_ink(ink: np.ndarray, digit_of: np.ndarray, k: int, digit: _Digit) -> DigitInk:
    """Digit k's DigitInk, from each pixel's digit (`digit_of`). Not a picture-size copy per digit:
    a phone's photo of four digits made four of a million pixels each."""
    top, left = max(0, digit.top - FAINT_EDGE), max(0, digit.left - FAINT_EDGE)
    rows, cols = slice(top, digit.bottom + FAINT_EDGE), slice(left, digit.right + FAINT_EDGE)
    return DigitInk(np.where(digit_of[rows, cols] == k, ink[rows, cols], 0).astype(ink.dtype), top, left)


def _merged(digit: _Digit, mark: _Digit) -> _Digit:
    return _Digit(
        digit.marks + mark.marks,
        min(digit.left, mark.left),
        max(digit.right, mark.right),
        min(digit.top, mark.top),
        max(digit.bottom, mark.bottom),
    )
