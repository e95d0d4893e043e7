"""Digits from pictures that MNIST did not make: the background decided, the ink measured, and the
digit framed as MNIST's are. numpy and Pillow (and scipy for the page's marks, page_marks.py);
batch-first, so that a folder of small images costs a few numpy calls per batch rather than per
image.

MNIST's framing: the ink's bounding box scaled (aspect ratio kept, anti-aliased) to fit a 20x20
box, placed in the 28x28 image so that its centre of mass is at pixel (14, 14) (as measured on
MNIST's own digits), light ink on a black ground. A digit cropped to fill its picture, or written
off-centre on a page, reaches the model in a form it has never seen; framing gives it MNIST's form.
An MNIST digit comes out of it as it went in.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .ground import flatten_ground, uneven_grounds
from .mnist import IMAGE_SHAPE
from .number_split import FAINT_EDGE, number_digits
from .page_marks import digit_sized_marks, page_marks_removed

BOX = 20  # MNIST's digits fit a 20x20 box ...
CENTRE = 14.0  # ... with their centre of mass here (row and column) in the 28x28 image
INK = 0.1  # a pixel is ink, for the bounding box, above this share of the ink's full strength
BOX_INK = 0.3  # firm ink; the box ends FAINT_EDGE pixels past it at most (_extent; number_split.py)
FIRM_TOTAL = 0.8  # ... and, in a picture larger than MNIST's, this much ink across its row or column
NOISE_SIGMAS = 6  # the ground's noise reaches this many robust standard deviations above its median:
# past 6, not one pixel of a 1000x1000 scan with Gaussian noise is taken for ink
MIN_CONTRAST = 32  # grey levels from the ground (and its noise) to the strongest ink; less: blank
FAINT_CONTRAST = 12  # the same on the second look, judged against the noise of the paper itself
SMOOTH_FROM = 29  # on the second look, pictures this many pixels or more on their shorter side are
# smoothed (a Gaussian of sigma 1 pixel) before their ink is measured: a photo's noise, multiplied
# on the dark side of its paper when the light is divided out, set a floor of 40-60 grey levels
# that faint ink never reached; smoothed, about a quarter of that. A pen's stroke is 3 pixels or
# more at that size and keeps most of its strength.
BLANK = "blank image"  # how a refusal for want of ink begins
SPECK = "not a digit: the ink is a speck"  # ... and one for too little of it
MAX_INK_SHARE = 0.85  # more of the picture than this is ink: not a digit (MNIST's most is 0.33, a
# bold digit cropped tight 0.76)
MIN_INK_PIXELS = 6  # fewer strong ink pixels, or a strong ink box under MIN_EXTENT pixels long: a
MIN_EXTENT = 4  # speck, not a digit (one white pixel was framed to a full digit and read "8" at
# 0.985; MNIST's digits have 20 such pixels or more, scikit-learn's 8x8 digits span 6 pixels or more)
FRAME_SHARE = 0.07  # the ground is sampled this deep into the picture from its edges (_frame)
NOISE_SAMPLE = 10_000  # pixels a picture's noise is measured on (see _pixel_to_pixel)
LAG = 3  # pixels apart: past the smoothing's reach, well within the light's (see _pixel_to_pixel)
SCATTERED = 0.5  # under this share of the strong ink pixels with two strong neighbours or more: noise
# (a pen's stroke is 2 pixels wide or more, or a line, and nearly every pixel of it has two)
MAX_ASPECT = 20  # a picture longer than this many times its width (1x20000) holds no one digit
NUMBER_ASPECT = 200  # ... nor a number (a tight crop of a 20-digit serial is 20 times as long)


def prepare(greys: np.ndarray, background: str, frame: str) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """prepare_counted without the count of marks: (digits, which were light, reasons)."""
    digits, light, reasons, _ = prepare_counted(greys, background, frame)
    return digits, light, reasons


def prepare_counted(
    greys: np.ndarray, background: str, frame: str
) -> tuple[np.ndarray, np.ndarray, list[str | None], list[int]]:
    """(n, h, w) grey images (float32, 0-255, any background) as model-ready digits: (n, 28, 28)
    uint8 light on dark, which of them were light backgrounds (and so inverted), per image why it
    cannot be a digit (None when it can), and how many digit-sized marks stand side by side in it
    (page_marks.digit_sized_marks; 0 for a refused one). `background`: dark, light or auto (decided
    per image); `frame`: mnist (MNIST's framing) or none (resized whole to 28x28, as given)."""
    greys, ink, light, reasons = _inked(greys, background)
    usable = np.array([reason is None for reason in reasons])
    digits = np.zeros((len(greys), *IMAGE_SHAPE), np.uint8)  # no digit for the images that have none
    if usable.any():
        digits[usable] = frame_mnist(ink[usable]) if frame == "mnist" else _resized(greys[usable])
    marks = [digit_sized_marks(ink[i]) if use else 0 for i, use in enumerate(usable.tolist())]
    return digits, light, reasons, marks


def prepare_numbers(greys: np.ndarray, background: str) -> tuple[list[np.ndarray], np.ndarray, list[str | None]]:
    """(n, h, w) grey images as prepare_counted takes them, each read as a number: per image its
    digits left to right (number_split.py), each framed as MNIST's, as a (k, 28, 28) uint8 stack (k = 0
    for a refused image); which were light; why each cannot be read (None when it can)."""
    greys, ink, light, reasons = _inked(greys, background, number=True)
    numbers = []
    for i, reason in enumerate(reasons):
        digits = number_digits(ink[i]) if reason is None else []
        numbers.append(
            np.stack([_frame_one(digit.ink) for digit in digits]) if digits else np.zeros((0, *IMAGE_SHAPE), np.uint8)
        )
    return numbers, light, reasons


def _inked(
    greys: np.ndarray, background: str, *, number: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
    """The greys as light on dark, each pixel's ink strength, which images were light (and so
    inverted), and why each cannot be a digit (None when it can). A ground lit unevenly (a photo of
    paper) is flattened first (ground.py), and the page's marks are taken out (page_marks.py), so
    that ink is measured against the paper around it. `number`: the picture may hold several digits
    (page_marks_removed's `number`)."""
    original, ring = greys, _borders(greys)
    if background == "auto":
        flat = greys.reshape(len(greys), -1)
        # The border is mostly ground even where the digit touches it (or a line runs along it):
        # its median against the middle of the image's range of greys.
        light = np.median(_frame(greys), axis=1) > (flat.min(axis=1) + flat.max(axis=1)) / 2
    else:
        light = np.full(len(greys), background == "light")
    uneven = uneven_grounds(ring, light)
    greys, ink, reasons = _measured(greys, light, uneven, number=number)
    # A picture called blank, or a speck, gets a second look, its ink judged against the paper it lies on: the
    # ground flattened (just under UNEVEN, a gentle gradient can still lift the floor over the ink),
    # a large picture smoothed (SMOOTH_FROM), the noise taken where it is least, and FAINT_CONTRAST
    # above it enough. A blank ground stays blank (and keeps its first reason); only refused
    # pictures pay for it, and the pictures read on the first look are framed as they always were.
    again = np.flatnonzero([reason is not None and reason.startswith((BLANK, SPECK)) for reason in reasons])
    if len(again):
        flat_greys, flat_ink, second = _measured(
            original[again], light[again], np.ones(len(again), bool), second_look=True, number=number
        )
        found = np.array([reason is None for reason in second])
        if found.any():
            greys = greys.copy() if greys is original else greys  # never write into the caller's array
            greys[again[found]], ink[again[found]] = flat_greys[found], flat_ink[found]
            for i in again[found]:
                reasons[i] = None
    return greys, ink, light, reasons


def _measured(
    greys: np.ndarray, light: np.ndarray, uneven: np.ndarray, *, second_look: bool = False, number: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """The greys with the `uneven` grounds flattened and the `light` ones inverted (light ink on
    dark), each pixel's ink strength, and why each image cannot be a digit (None when it can).
    `second_look`: a large picture smoothed, and the ink judged as on prepare's second look;
    `number`: as _inked's."""
    if uneven.any():  # photos of paper: the ground's light flattened before the ink is measured
        greys = greys.copy()
        for i in np.flatnonzero(uneven):
            greys[i] = flatten_ground(greys[i], paper=bool(light[i]))
    if second_look and min(greys.shape[1:]) >= SMOOTH_FROM:
        greys = _smoothed(greys)
    ring = _frame(greys)
    if light.any():  # most folders are one kind: the dark ones need no copy
        greys = np.where(light[:, None, None], 255 - greys, greys)
        ring = np.where(light[:, None], 255 - ring, ring)
    return greys, *_ink_strengths(greys, ring, second_look=second_look, number=number)


def _smoothed(greys: np.ndarray) -> np.ndarray:
    """An (n, h, w) stack blurred by the binomial kernel 1-4-6-4-1 (a Gaussian of sigma 1) along
    each axis, edges repeated: each pixel's noise down to 0.27 of itself."""
    weights = np.array([1, 4, 6, 4, 1], np.float32) / 16
    for axis in (1, 2):
        padded = np.pad(greys, [(2, 2) if a == axis else (0, 0) for a in range(3)], mode="edge")
        length = greys.shape[axis]
        greys = sum(w * padded.take(range(k, k + length), axis=axis) for k, w in enumerate(weights))
    return np.asarray(greys, np.float32)


def _frame(greys: np.ndarray) -> np.ndarray:
    """The ground's sample of each image in an (n, h, w) stack: its outermost ring and, in a picture
    larger than MNIST's, two more rings within FRAME_SHARE of its side, as (n, k). A ruled page's
    line along the border, darker than half the ring, made the page's ground look dark."""
    height, width = greys.shape[1:]
    depth = int(FRAME_SHARE * min(height, width))
    if depth < 2:
        return _borders(greys)
    rings = sorted({0, depth // 2, depth - 1})  # three rings at most: a phone's photo stays cheap
    return np.concatenate([_borders(greys[:, d : height - d, d : width - d]) for d in rings], axis=1)


def _borders(greys: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels of each image in an (n, h, w) stack, as (n, 2h + 2w - 4)."""
    return np.concatenate([greys[:, 0], greys[:, -1], greys[:, 1:-1, 0], greys[:, 1:-1, -1]], axis=1)


def _ink_strengths(
    greys: np.ndarray, ring: np.ndarray, *, second_look: bool = False, number: bool = False
) -> tuple[np.ndarray, list[str | None]]:
    """Each pixel's share of the ink's full strength, in [0, 1], for greys that are light ink on a
    dark ground: the ground (its frame's median, _frame) and its noise (NOISE_SIGMAS robust standard deviations)
    become 0, the strongest ink 1. Also, per image, why it cannot be a digit: blank, or ink nearly
    everywhere. `second_look`: the noise is the smaller of the border's spread and the whole
    picture's, each of which overstates it its own way (a flattened photo's border keeps what is
    left of the light at its edges; a digit cropped tight is mostly ink), and FAINT_CONTRAST is
    contrast enough."""
    level = np.median(ring, axis=1)
    flat = greys.reshape(len(greys), -1)
    # The noise from the ground's side of its level only: ink (and a ruled page's lines, a tenth of
    # its border) lies on the other side, and widens a two-sided spread by half again.
    spread = _median_below(ring, level)
    if second_look:
        spread = np.minimum(spread, np.median(np.abs(flat - np.median(flat, axis=1)[:, None]), axis=1))
    larger = max(greys.shape[1:]) > max(IMAGE_SHAPE)  # than MNIST's: the page may show, and its noise
    if larger:
        spread = np.minimum(spread, _pixel_to_pixel(greys))
    floor = level + NOISE_SIGMAS * 1.4826 * spread
    contrast = flat.max(axis=1) - floor
    least = FAINT_CONTRAST if second_look else MIN_CONTRAST
    ink = greys - floor[:, None, None]  # then in place: a task's batch is ~1 MB, a new copy per step costs
    ink /= np.maximum(contrast, 1)[:, None, None]
    np.clip(ink, 0, 1, out=ink)
    if larger:  # the page's marks out before the ink is judged
        inked = np.count_nonzero((ink > 0.5).reshape(len(ink), -1), axis=1) / ink[0].size
        for i in np.flatnonzero((contrast >= least) & (inked <= MAX_INK_SHARE)):  # all ink: refused as such
            ink[i] = page_marks_removed(ink[i], number=number)
            strongest = ink[i].max()  # a black ruled line was the strongest ink: the digit's is now
            contrast[i] *= strongest
            if strongest > 0:
                ink[i] /= strongest
    mask = ink > 0.5
    strong = np.count_nonzero(mask.reshape(len(greys), -1), axis=1)
    extent = np.maximum(_span(mask.any(axis=2)).sum(axis=1), _span(mask.any(axis=1)).sum(axis=1))
    speck = (strong < MIN_INK_PIXELS) | (extent < MIN_EXTENT)
    if larger:  # (at MNIST's size, the most pictures, there is nothing to tell apart)
        coherent = np.count_nonzero((mask & (_neighbours(mask) >= 2)).reshape(len(greys), -1), axis=1)
        contrast[(coherent < SCATTERED * strong) & ~speck] = 0  # a noisy sheet's brightest pixels: no digit stands out
    height, width = greys.shape[1:]
    aspect = NUMBER_ASPECT if number else MAX_ASPECT
    shape = _Picture(width, height, aspect if max(height, width) > aspect * min(height, width) else 0)
    figures = zip(contrast.tolist(), strong.tolist(), speck)
    reasons = [_refusal(c, n, bool(s), shape, least=least) for c, n, s in figures]
    return ink, reasons


def _pixel_to_pixel(greys: np.ndarray) -> np.ndarray:
    """Per image of an (n, h, w) stack, its noise from how pixels LAG apart differ, on the scale
    of a median absolute deviation: what is left of the light after flattening (a corner 16 grey
    levels darker) spreads the border's greys, not the difference of near pixels. Ink edges and
    ruled lines are a minority of those differences. Taken on every `step`-th row and column, about
    NOISE_SAMPLE pixels: the median of a photo's 10^6 differences cost more than all the rest."""
    step = max(1, int(np.sqrt(greys.shape[1] * greys.shape[2] / NOISE_SAMPLE)))
    sample = greys[:, ::step, ::step]
    rows, cols = greys[:, LAG::step, ::step], greys[:, ::step, LAG::step]
    across = np.abs(cols - sample[:, :, : cols.shape[2]]).reshape(len(greys), -1)
    down = np.abs(rows - sample[:, : rows.shape[1]]).reshape(len(greys), -1)
    return np.median(np.concatenate([across, down], axis=1), axis=1) / np.sqrt(2)


def _median_below(values: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Per row of `values` (n, k), the median of how far its values under `level` (n,) lie under
    it; 0 where none do."""
    under = values < level[:, None]
    count = np.count_nonzero(under, axis=1)
    spread = np.zeros(len(values), np.float32)
    some = np.flatnonzero(count)  # MNIST's borders are all 0: nothing to sort
    if len(some):
        deviations = np.sort(np.where(under[some], level[some, None] - values[some], 0), axis=1)  # under ones last
        middle = values.shape[1] - count[some] + count[some] // 2
        spread[some] = deviations[np.arange(len(some)), middle]
    return spread


class _Picture(NamedTuple):
    """A batch's picture size, and whether it is a strip: the aspect it exceeds, else 0."""

    width: int
    height: int
    strip: int


def _refusal(contrast: float, strong: int, speck: bool, shape: _Picture, *, least: float) -> str | None:
    """Why an image whose ink was measured so (`strong`: its pixels of strong ink) cannot be a
    digit, or None when it can; `least`: the contrast that is enough."""
    if shape.strip:  # first: its border is most of it, so its ground cannot be told from its ink
        size = f"{shape.width}x{shape.height}"
        return f"not a digit: a {size} picture is a strip, more than {shape.strip} times as long as wide"
    if contrast < least:
        return f"{BLANK}: no digit stands out from the background (contrast {max(contrast, 0):.0f} of 255)"
    if speck:
        return f"{SPECK} of {strong} pixel{'s' if strong != 1 else ''}"
    share = strong / (shape.width * shape.height)
    if share > MAX_INK_SHARE:
        return f"not a digit: {share:.0%} of the image is ink after background handling"
    return None


def _resized(greys: np.ndarray) -> np.ndarray:
    """Without framing: each image resized whole to 28x28 (Lanczos, aspect ratio not kept)."""
    from PIL import Image

    digits = np.rint(greys).astype(np.uint8)
    if digits.shape[1:] == IMAGE_SHAPE:
        return digits
    size = IMAGE_SHAPE[::-1]
    return np.stack([np.asarray(Image.fromarray(d, "L").resize(size, Image.Resampling.LANCZOS)) for d in digits])


def frame_mnist(ink: np.ndarray) -> np.ndarray:
    """The digits of an (n, h, w) stack of ink strengths framed as MNIST's: (n, 28, 28) uint8.
    28x28 digits that are framed so already (a 20-pixel box, centred) take one vectorised step;
    the rest are framed one by one."""
    if ink.shape[1:] != IMAGE_SHAPE:
        return np.stack([_frame_one(digit) for digit in ink])
    boxed, fits = _boxed_in_place(ink)
    framed = np.rint(boxed * 255).astype(np.uint8)
    for i in np.flatnonzero(~fits):
        framed[i] = _frame_one(ink[i])
    return framed


def _boxed_in_place(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each digit with what lies outside its ink's bounding box cleared (as _frame_one crops it),
    and whether that box is already 20 pixels on its longer side with the centre of mass at 14,
    in which case _frame_one would give exactly the cleared digit."""
    mask = ink > INK
    rows, cols = np.asarray(mask.any(axis=2)), np.asarray(mask.any(axis=1))
    inside_rows, inside_cols = _span(rows), _span(cols)
    boxed = ink * (inside_rows[:, :, None] & inside_cols[:, None, :])
    # Sums, not one product with a (h * w, 3) matrix of 1, row and column: OpenBLAS runs that
    # on threads that then spin, and a decoding worker has one core (prepare took 2.3x the CPU).
    row_sums = boxed.sum(axis=2)
    total = np.maximum(row_sums.sum(axis=1), 1e-9)
    centre_row = row_sums @ np.arange(ink.shape[1]) / total
    centre_col = boxed.sum(axis=1) @ np.arange(ink.shape[2]) / total
    longer = np.maximum(inside_rows.sum(axis=1), inside_cols.sum(axis=1))
    fits = (longer == BOX) & (np.rint(CENTRE - centre_row) == 0) & (np.rint(CENTRE - centre_col) == 0)
    return boxed, fits


def _neighbours(mask: np.ndarray) -> np.ndarray:
    """For an (n, h, w) stack of booleans, how many of each pixel's 8 neighbours are True."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1))).astype(np.uint8)
    height, width = mask.shape[1:]
    total = sum(padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3))
    return total - mask


def _span(hits: np.ndarray) -> np.ndarray:
    """(n, k) booleans -> True from each row's first True to its last."""
    return np.logical_or.accumulate(hits, axis=1) & np.logical_or.accumulate(hits[:, ::-1], axis=1)[:, ::-1]


def _extent(strongest: np.ndarray, total: np.ndarray | None = None) -> tuple[int, int]:
    """The first and last place along one axis with ink (`strongest`: the ink's maximum across the
    other axis), less faint tails: a digit's faint edge is a pixel or two before its firm ink
    (BOX_INK) begins; what runs on faint past that (a faint line's remains, rising above the noise
    here and there) is not the digit's, and must not stretch the box across the page."""
    ink, firm = np.flatnonzero(strongest > INK), np.flatnonzero(strongest > BOX_INK)
    if total is not None:  # a thin line's remains: firm ink, but a pixel or two of it across
        solid = np.flatnonzero((strongest > BOX_INK) & (total > FIRM_TOTAL))
        firm = solid if len(solid) else firm
    if len(firm) == 0:
        return int(ink[0]), int(ink[-1])
    return max(int(ink[0]), int(firm[0]) - FAINT_EDGE), min(int(ink[-1]), int(firm[-1]) + FAINT_EDGE)


def _frame_one(ink: np.ndarray) -> np.ndarray:
    from PIL import Image

    larger = max(ink.shape) > max(IMAGE_SHAPE)
    rows = _extent(ink.max(axis=1), ink.sum(axis=1) if larger else None)
    cols = _extent(ink.max(axis=0), ink.sum(axis=0) if larger else None)
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = box.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != (width, height):
        resized = Image.fromarray(box.astype(np.float32), "F").resize(size, Image.Resampling.LANCZOS)
        box = np.clip(np.asarray(resized), 0, 1)
    total = box.sum()
    centre_row = box.sum(axis=1) @ np.arange(box.shape[0]) / total
    centre_col = box.sum(axis=0) @ np.arange(box.shape[1]) / total
    top = int(np.clip(np.rint(CENTRE - centre_row), 0, IMAGE_SHAPE[0] - box.shape[0]))
    left = int(np.clip(np.rint(CENTRE - centre_col), 0, IMAGE_SHAPE[1] - box.shape[1]))
    framed = np.zeros(IMAGE_SHAPE, np.float32)
    framed[top : top + box.shape[0], left : left + box.shape[1]] = box
    return np.rint(framed * 255).astype(np.uint8)
