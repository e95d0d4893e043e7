"""The digit, not the page: what a picture of a digit also shows, and what framing must not frame.
Ruled and squared paper, a margin's line, the page's edge, a punched hole, what is left of a shadow
in a corner, and stray specks all turn into ink once the paper is taken away; framed with the digit,
they widen its box, and a digit on ruled paper reached the model 10-12 pixels tall instead of 20.

`page_marks_removed` takes them out of a picture's ink strengths:
- lines: straight runs of ink across most of the picture, level or upright (a photo's tilt of a
  few degrees included), thin, reaching an edge. One of a family with a line from edge to edge is
  the ruling's (and so are its other lines where its spacing puts them); a line alone only where it
  goes on past the digit on both sides: a digit's own bar (a 7's, a 5's) ends with the digit. Where
  a stroke crosses a line, lies over it (the dark run across the line is thicker than the line), or
  is much darker than it, the stroke's pixels are kept; what the line leaves beside its fitted band,
  apart from the digit, goes. A stroke as thin as a line and as dark, lying along it, cannot be told
  from it: that part of it goes too (the figures in docs/predict.md).
- marks on the border: small ones (a shadow's residue in a corner), and thin strips along it (a
  page's edge, a line's end).
- a filled round mark (a punched hole) beside other ink; the faint dashes a line leaves where it
  rises above the noise; specks; light marks far from the digit.
What remains is the digit's ink. `digit_sized_marks` counts the digits side by side in it. Pictures
of MNIST's 28x28 size are left alone (nothing there is page), so that MNIST's digits come out of
framing as they went in; larger ones than STUDIED are studied shrunk.

numpy and scipy.ndimage (labelling, running minima and maxima)."""

from __future__ import annotations

import numpy as np

INK = 0.1  # a pixel is ink above this share of the ink's full strength (as framing's box takes it)
STRONG = 0.5  # a hole is filled with pixels this strong
STUDIED = 160  # pixels a side: a larger picture's marks are found on it shrunk to about this

# Lines
FAINT = 0.05  # a line's pixels are this strong or more: a blue-grey line is fainter than a pen's ink,
# and fades further where the light is poor (at 0.1, such lines were found in pieces, and what was
# not found widened the digit's box)
LINE_SHARE = 0.6  # a line runs this share of the picture's width (height) or more, ...
PAST = 0.04  # ... reaches within this share of the side of an edge (a single line: goes on past the
# digit's ink by this share of the side, on both sides), ...
LINE_THIN = 0.05  # ... and is no thicker than this share of the picture across it (or 4 pixels): a
# bold digit's bar in a picture cropped tight is long too, but thick
TILTS = (-3, -1.5, 0, 1.5, 3)  # degrees: a photo of a page is seldom level
ONE_SIDE = 0.25  # a single line this share of the side past the digit on one side is the page's
NUMBER_LINE = 1.5  # a level line this many times as long as a number is tall crosses it: not a bar
OVER_LINE = 1.6  # ink this many times the line's own (its band's median) is a pen's stroke over it
THICKER = 1  # ink across a line this many pixels thicker than the line: a stroke lies over it, ...
RUN_INK = 0.3  # ... counting ink this strong (a stroke's soft edge beside a line is part of it)
REACH = 2  # pixels: a stroke crossing a line has ink this close to it on both sides. Wider (6), the
# line across a 9's small loop was kept as a bar through it
MIN_SPACING = 6  # pixels: lines closer than this are no ruling
INK_ALONG = 0.3  # a ruling's line where its spacing puts it: this share of its band is ink

# Stray marks
EDGE_SMALL = 0.25  # a mark on the border smaller than this share of the shorter side both ways
EDGE_THIN = 0.06  # a strip along the border thinner than this share of the side, and longer than
EDGE_LONG = 0.2  # this share of it
DASHES, DASHES_LONG = 0.35, 0.3  # a mark of ink this faint on average, this share of the picture long
FAR, LIGHT = 0.3, 0.25  # a mark this far from the digit (of its size), this light (of its ink)
SPECK_SHARE = 0.05  # a mark with less ink than this share of the largest mark's
BLOB_FILL, BLOB_ROUND = 0.6, 0.75  # a hole: its box this full of ink, and about square

# Digits side by side
HALF_AS_TALL, QUARTER_AS_HEAVY = 0.5, 0.25  # a digit-sized mark, against the tallest and heaviest


def page_marks_removed(ink: np.ndarray, *, number: bool = False) -> np.ndarray:
    """One picture's (h, w) ink strengths in [0, 1] with the page's marks taken out (zeros).
    `number`: the picture may hold several digits, so a light mark far from the heaviest one may
    be a digit of its own (a thin 1 beside a bold 8), and stays."""
    height, width = ink.shape
    if height <= 28 and width <= 28:
        return ink
    factor, small = _studied(ink)
    if factor == 1:
        return _stray_marks_removed(_lines_removed(ink, number), keep_far=number)
    # What is taken out of the shrunk picture is taken out of its blocks here.
    kept = _stray_marks_removed(_lines_removed(small, number), keep_far=number) > 0
    blocks = np.repeat(np.repeat(kept, factor, axis=0), factor, axis=1)[:height, :width]
    return np.where(blocks, ink, 0).astype(ink.dtype)


def _studied(ink: np.ndarray) -> tuple[int, np.ndarray]:
    """A large picture is studied at about STUDIED pixels a side: the factor, and each factor x
    factor block's strongest ink, which keeps a line one pixel thin. (1, ink) for a small one."""
    height, width = ink.shape
    factor = -(-max(height, width) // STUDIED)
    if factor == 1:
        return 1, ink
    rows, cols = -(-height // factor) * factor, -(-width // factor) * factor
    padded = np.pad(ink, ((0, rows - height), (0, cols - width))) if (rows, cols) != ink.shape else ink
    return factor, _block_max(padded, factor)


def _block_max(picture: np.ndarray, factor: int) -> np.ndarray:
    """The maximum of each factor x factor block, as `factor` elementwise maxima each way: numpy's
    reduction over the blocks' strided axes took 5.5 ms for a 1000x1000 picture, this 0.3 ms."""
    rows = picture.reshape(picture.shape[0] // factor, factor, picture.shape[1])
    tall = rows[:, 0].copy()
    for k in range(1, factor):
        np.maximum(tall, rows[:, k], out=tall)
    columns = tall.reshape(tall.shape[0], -1, factor)
    small = columns[:, :, 0].copy()
    for k in range(1, factor):
        np.maximum(small, columns[:, :, k], out=small)
    return small


def _lines_removed(ink: np.ndarray, number: bool = False) -> np.ndarray:
    """`ink` less the page's lines; `number`: the ink may be a number, whose digits a level line
    crosses all of (no digit's bar is NUMBER_LINE times as long as the number is tall)."""
    faint = ink > FAINT
    level = _line_bands(faint, ink)
    upright = [(band.T, span) for band, span in _line_bands(faint.T, ink.T)]
    if not level and not upright:
        return ink
    everything = np.zeros_like(faint)
    for band, _ in level + upright:
        everything |= band
    rest = _stray_marks_removed(np.where(everything, 0, ink), keep_far=number) > STRONG  # the digit (number)
    height, width = ink.shape
    page = np.zeros_like(faint)
    taken: list[tuple[np.ndarray, int]] = []  # each line's pixels taken out, and the axis across it
    columns, rows = np.flatnonzero(rest.any(axis=0)), np.flatnonzero(rest.any(axis=1))
    for bands, ink_span, side, axis in ((level, columns, width, 0), (upright, rows, height, 1)):
        # A family of lines, one of them from edge to edge, is ruled paper: its other lines may
        # fade before one edge where the light is poor. (The sides of a 0 cropped tight reach no edge.)
        ruled = any(start <= PAST * side and stop >= (1 - PAST) * side for _, (start, stop) in bands)
        for band, span in bands:
            # One of a family of lines (ruled or squared paper) is the page's; a line alone only
            # where it goes on past the digit on both sides (a 7's bar in a tight crop does not).
            if len(ink_span) == 0:
                page |= band
                taken.append((band, axis))
                continue
            past = span[0] <= ink_span[0] - PAST * side and span[1] > ink_span[-1] + PAST * side
            # ... or far past it on one side: a line fading where the light is poor ends by the digit
            past |= span[0] <= ink_span[0] - ONE_SIDE * side or span[1] >= ink_span[-1] + ONE_SIDE * side
            across = number and side == width and len(rows) and span[1] - span[0] >= NUMBER_LINE * np.ptp(rows)
            if past or across or (len(bands) > 1 and ruled):
                # ink much darker than the line's own is a pen's stroke over a faint line: it stays
                line = band & (ink <= OVER_LINE * np.median(ink[band & faint]))
                page |= line
                taken.append((line, axis))
    kept = _crossings(rest, page) | _covered(ink > RUN_INK, taken)
    cleaned = np.where(page & ~kept, 0, ink).astype(ink.dtype)
    return _slivers_removed(cleaned, page & ~kept)


def _slivers_removed(ink: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """`ink` less what a line left beside its band (a tilted line's step, a pixel off the fit):
    marks of ink all within a pixel of the `taken` lines' pixels, apart from the heaviest mark."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > INK, np.ones((3, 3)))
    if count < 2:
        return ink
    near = ndimage.binary_dilation(taken, np.ones((3, 3)))
    numbers = np.arange(1, count + 1)
    inside = ndimage.sum_labels(near, labels, numbers) == ndimage.sum_labels(np.ones_like(near), labels, numbers)
    inside[np.argmax(ndimage.sum_labels(ink, labels, numbers))] = False
    if not inside.any():
        return ink
    return np.where(np.concatenate([[False], inside])[labels], 0, ink).astype(ink.dtype)


def _covered(inked: np.ndarray, taken: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """The line pixels a stroke lies over: where the ink across a line (`inked`, the other lines
    taken out) runs THICKER pixels or more past the line's own thickness (the median run across its
    pixels: a stroke along less than half of it adds fewer), a pen's stroke runs along the line or
    over it. (The median along the line, of each place's longest run, lost more of printed numbers
    on ruled paper: 94 counted right of 100 against 97.)"""
    from scipy import ndimage

    covered = np.zeros_like(inked)
    for axis in (0, 1):
        lines = [line for line, across in taken if across == axis]
        if not lines:
            continue
        others = np.zeros_like(inked)
        for line, across in taken:
            if across != axis:
                others |= line
        structure = np.zeros((3, 3), bool)
        structure[:, 1] = True
        labels, _ = ndimage.label(inked & ~others, structure if axis == 0 else structure.T)
        runs = np.bincount(labels.ravel())[labels]
        runs[labels == 0] = 0
        for line in lines:
            # the line's thickness: the median, along it, of the longest run across it at each place
            on = line & (runs > 0)
            if on.any():
                covered |= line & (runs >= np.median(runs[on]) + THICKER)
    return covered


def _line_bands(faint: np.ndarray, ink: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """The level lines of `faint`, each as the band of pixels along the straight line fitted
    through it, across the whole picture (a line fades where the light is poor), and the columns
    it was found in. Only thin lines, reaching an edge. Where a family of them (one from edge to
    edge) gives the ruling's spacing, its other lines too, found faint in `ink` where they fall."""
    from scipy import ndimage

    found = _level_lines(faint)
    if not found.any():
        return []
    height, width = faint.shape
    labels, _ = ndimage.label(found, np.ones((3, 3)))
    rows, columns = np.mgrid[0:height, 0:width]
    bands, fits = [], []
    for number, where in enumerate(ndimage.find_objects(labels), 1):
        line = labels == number
        across = where[1]
        length = across.stop - across.start
        thickness = np.count_nonzero(line) / length
        from_an_edge = across.start <= PAST * width or across.stop >= (1 - PAST) * width
        if thickness > max(4, LINE_THIN * height) or not from_an_edge:
            continue
        x, y = columns[line].astype(np.float64), rows[line].astype(np.float64)
        slope = ((x - x.mean()) * (y - y.mean())).sum() / max(((x - x.mean()) ** 2).sum(), 1e-9)
        away = np.abs(rows - (y.mean() + slope * (columns - x.mean())))
        band = away <= thickness / 2  # no wider: a stroke along the line keeps what lies beside it
        bands.append((band, (across.start, across.stop)))  # all of it: a line fades below FAINT at places
        fits.append(
            (y.mean() - slope * x.mean(), slope, thickness, across.stop - across.start >= (1 - 2 * PAST) * width)
        )
    return bands + _rest_of_the_ruling(fits, ink)


def _rest_of_the_ruling(fits: list[tuple[float, float, float, bool]], ink: np.ndarray) -> list:
    """The bands of a ruling's lines that were not found whole, from the lines that were (their
    row at column 0, slope, thickness, and whether they run edge to edge): where the spacing
    between found lines says a line falls and INK_ALONG of the band is ink, the band is a line."""
    if len(fits) < 2 or not any(whole for *_, whole in fits):
        return []
    height, width = ink.shape
    starts = np.sort([start for start, *_ in fits])
    spacing = float(np.diff(starts).min())
    if spacing < MIN_SPACING:
        return []
    slope, thickness = float(np.median([f[1] for f in fits])), float(np.median([f[2] for f in fits]))
    rows, columns = np.mgrid[0:height, 0:width]
    found = []
    for start in np.arange(starts[0] % spacing - spacing, height + abs(slope) * width + spacing, spacing):
        if np.abs(starts - start).min() < spacing / 3:
            continue
        band = np.abs(rows - (start + slope * columns)) <= thickness / 2 + 1  # a pixel more: the spacing drifts
        if band.any() and np.mean(ink[band] > INK) >= INK_ALONG:
            found.append((band, (0, width)))
    return found


def _level_lines(faint: np.ndarray) -> np.ndarray:
    """The pixels of `faint` on level lines (tilted by up to a few degrees) at least LINE_SHARE of
    the width long: a running minimum then maximum along each row of the picture sheared by each
    tilt, one pixel of slack up and down."""
    from scipy import ndimage

    height, width = faint.shape
    length = max(3, int(LINE_SHARE * width))
    if length >= width or height < 3:
        return np.zeros_like(faint)
    # A line leaves ink in `length` columns within a band of rows as tall as its tilt's drift: where
    # no band has that many, there is no line (most pictures), and the shears below are not needed.
    drift = int(np.ceil(width * np.tan(np.radians(max(TILTS))))) + 3
    if np.count_nonzero(ndimage.maximum_filter1d(faint, drift, axis=0), axis=1).max() < length:
        return np.zeros_like(faint)
    # a line 1 pixel thin, tilted, fills this band; a faint one, broken by the noise into dashes
    # 1-2 pixels apart, is joined along itself
    slack = ndimage.maximum_filter(faint, 3)
    found = np.zeros_like(faint)
    columns = np.arange(width)
    for degrees in TILTS:
        shift = np.rint(columns * np.tan(np.radians(degrees))).astype(int)  # each column's rows moved
        shift -= shift.min()
        sheared = np.zeros((height + shift.max(), width), bool)
        sheared[shift[None, :] + np.arange(height)[:, None], columns] = slack
        runs = ndimage.maximum_filter1d(ndimage.minimum_filter1d(sheared, length, axis=1), length, axis=1)
        found |= runs[shift[None, :] + np.arange(height)[:, None], columns]
    return found & faint


def _crossings(stroke: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The line pixels a stroke passes through: stroke ink within REACH pixels above and below (or
    to the left and the right). A thicker line's crossings are _covered's: the run across it."""
    from scipy import ndimage

    crossed = np.zeros_like(lines)
    size = REACH + 1  # the pixel and the REACH before it (origin: how far the window is shifted back)
    for axis in (0, 1):
        before = ndimage.maximum_filter1d(stroke, size, axis=axis, origin=REACH - size // 2)
        after = ndimage.maximum_filter1d(stroke, size, axis=axis, origin=-(size // 2))
        crossed |= before & after
    return crossed & lines


def _marks(ink: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """The marks of `ink`: ink grouped with what lies within a pixel of it (a faint or noisy stroke
    comes apart into pieces at any one strength), as labels, their count, and each one's ink."""
    from scipy import ndimage

    labels, count = ndimage.label(ndimage.binary_dilation(ink > INK, np.ones((3, 3))), np.ones((3, 3)))
    return labels, count, ndimage.sum_labels(ink, labels, np.arange(1, count + 1))


def _stray_marks_removed(ink: np.ndarray, *, keep_far: bool = False) -> np.ndarray:
    """`ink` less the marks (_marks) that are not the digit's; `keep_far`: light marks far from the
    heaviest one stay (a number's digits)."""
    from scipy import ndimage

    labels, count, masses = _marks(ink)
    if count == 0:
        return ink
    numbers = np.arange(1, count + 1)
    strong = ndimage.sum_labels(ink > STRONG, labels, numbers)
    inked = ndimage.sum_labels(ink > INK, labels, numbers)
    height, width = ink.shape
    side, heaviest = min(height, width), masses.max()
    stray = np.zeros(count + 1, bool)
    strong_boxes = ndimage.find_objects(np.where(ink > STRONG, labels, 0), count)  # a hole's own box
    boxes = ndimage.find_objects(labels)
    for number, found in enumerate(boxes, 1):
        down, across = found
        tall, wide = down.stop - down.start, across.stop - across.start
        top_or_bottom = down.start == 0 or down.stop == height
        left_or_right = across.start == 0 or across.stop == width
        # a strip along the border it touches: a page's edge, or a line's end at the border
        strip = (top_or_bottom and tall < EDGE_THIN * side <= wide) or (
            left_or_right and wide < EDGE_THIN * side <= tall
        )
        corner = (top_or_bottom or left_or_right) and max(tall, wide) < EDGE_SMALL * side
        # what a faint line leaves where it rises above the noise: a thin, long row of faint dashes
        dashes = masses[number - 1] < DASHES * inked[number - 1] and (
            (tall <= max(3, LINE_THIN * height) and wide >= DASHES_LONG * width)
            or (wide <= max(3, LINE_THIN * width) and tall >= DASHES_LONG * height)
        )
        if (
            corner
            or dashes
            or (strip and max(tall, wide) > EDGE_LONG * side)
            or masses[number - 1] < SPECK_SHARE * heaviest
        ):
            stray[number] = True
        elif _filled_round(strong[number - 1], strong_boxes[number - 1]):
            # a hole beside other ink; in a number, not one in line with the other marks (a bold 8)
            stray[number] = (masses >= SPECK_SHARE * heaviest).sum() > 1 and not (
                keep_far and _in_line(found, boxes, masses >= SPECK_SHARE * heaviest)
            )
    if not keep_far:
        stray |= _far_and_light(ndimage.find_objects(labels), masses, stray)
    if not stray.any():
        return ink
    return np.where(stray[labels], 0, ink).astype(ink.dtype)


def _far_and_light(boxes: list, masses: np.ndarray, stray: np.ndarray) -> np.ndarray:
    """Which marks lie apart from the heaviest one left (by FAR of its size) and weigh under LIGHT
    of it: what is left of a line where two crossed, a stray stroke. A digit's own pieces (a 5's
    bar, a 4 in two strokes) lie close to it."""
    far = np.zeros_like(stray)
    kept = [number for number in range(1, len(boxes) + 1) if not stray[number]]
    if len(kept) < 2:
        return far
    main = max(kept, key=lambda number: masses[number - 1])
    down, across = boxes[main - 1]
    reach = FAR * max(down.stop - down.start, across.stop - across.start)
    for number in kept:
        d, a = boxes[number - 1]
        gap = max(d.start - down.stop, down.start - d.stop, a.start - across.stop, across.start - a.stop, 0)
        far[number] = gap > reach and masses[number - 1] < LIGHT * masses[main - 1]
    return far


def _in_line(box: tuple[slice, slice], boxes: list, large: np.ndarray) -> bool:
    """Whether another large mark of `boxes` stands beside `box`, their rows overlapping by half
    the shorter's height: digits of one number do, a punched hole in the margin does not."""
    down = box[0]
    for other, is_large in zip(boxes, large):
        if other is box or not is_large:
            continue
        overlap = min(down.stop, other[0].stop) - max(down.start, other[0].start)
        if overlap > 0.5 * min(down.stop - down.start, other[0].stop - other[0].start):
            return True
    return False


def _filled_round(strong: float, box: tuple[slice, slice] | None) -> bool:
    """Whether a mark of `strong` strong pixels in the `box` they span is a filled round blob."""
    if box is None:
        return False
    tall, wide = box[0].stop - box[0].start, box[1].stop - box[1].start
    return strong >= BLOB_FILL * tall * wide and min(tall, wide) >= BLOB_ROUND * max(tall, wide)


def digit_sized_marks(ink: np.ndarray) -> int:
    """How many digit-sized marks stand side by side in one picture's (h, w) ink strengths (its
    page's marks taken out): marks grouped as _stray_marks_removed groups them (digits 2 pixels
    apart or less are one), those whose columns overlap (a 4 in two strokes, a 5's bar above its
    body) taken as one, and counted where they are at least HALF_AS_TALL as the tallest and weigh
    at least a QUARTER_AS_HEAVY as the heaviest (a dot, a stray stroke, a comma are not). 1 for a
    picture of MNIST's size, 0 for one without ink."""
    from scipy import ndimage

    if ink.shape[0] <= 28 and ink.shape[1] <= 28:
        return 1
    _, ink = _studied(ink)  # a phone's photo counted at full size took half of its preparation
    labels, count, masses = _marks(ink)
    if count == 0:
        return 0
    marks = sorted(
        (
            [box[1].start, box[1].stop, box[0].start, box[0].stop, mass]
            for box, mass in zip(ndimage.find_objects(labels), masses)
        ),
        key=lambda mark: mark[0],
    )
    clusters = [marks[0]]
    for left, right, top, bottom, mass in marks[1:]:
        last = clusters[-1]
        overlap = min(right, last[1]) - max(left, last[0])
        if overlap > 0.5 * min(right - left, last[1] - last[0]):  # one above the other: one digit's parts
            clusters[-1] = [
                min(left, last[0]),
                max(right, last[1]),
                min(top, last[2]),
                max(bottom, last[3]),
                last[4] + mass,
            ]
        else:
            clusters.append([left, right, top, bottom, mass])
    tallest = max(bottom - top for _, _, top, bottom, _ in clusters)
    heaviest = max(mass for *_, mass in clusters)
    return sum(
        bottom - top >= HALF_AS_TALL * tallest and mass >= QUARTER_AS_HEAVY * heaviest
        for _, _, top, bottom, mass in clusters
    )
