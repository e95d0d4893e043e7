"""Numbers as people write them: digits side by side, each its own size and slant, a pixel or more
apart. Built from MNIST digits (or any 28x28 light-on-dark digits), to be photographed with
photos.py; what the suite reads with `--digits many`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCALES = (0.8, 1.3)  # each digit's size, against MNIST's
SLANT = 0.25  # each digit sheared by up to this many pixels across per pixel down, either way
GAPS = (1, 8)  # pixels between one digit's ink box and the next one's
MARGIN = (6, 16)  # pixels of paper around the number


def number_ink(digits: Sequence[np.ndarray], rng: np.random.Generator, gaps: tuple[int, int] = GAPS) -> np.ndarray:
    """28x28 light-on-dark `digits` (uint8) written as one number: (h, w) ink in [0, 1], each digit
    scaled by SCALES, slanted by up to SLANT, standing on one baseline (give or take 2 pixels),
    `gaps` pixels apart (drawn per gap, both ends included)."""
    shapes = [_written(digit, rng) for digit in digits]
    height = max(shape.shape[0] for shape in shapes) + 4
    spaces = rng.integers(gaps[0], gaps[1] + 1, len(shapes) - 1)
    margin = int(rng.integers(*MARGIN))
    width = sum(shape.shape[1] for shape in shapes) + int(spaces.sum())
    ink = np.zeros((height + 2 * margin, width + 2 * margin), np.float32)
    left = margin
    for k, shape in enumerate(shapes):
        bottom = margin + height - int(rng.integers(0, 5))
        ink[bottom - shape.shape[0] : bottom, left : left + shape.shape[1]] = shape
        left += shape.shape[1] + (int(spaces[k]) if k < len(spaces) else 0)
    return ink


def _written(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One digit's ink in [0, 1], scaled, slanted and cropped to its box (ink above 0.1)."""
    from PIL import Image

    ink = digit.astype(np.float32) / 255
    scale = rng.uniform(*SCALES)
    size = max(1, round(28 * scale))
    ink = np.asarray(Image.fromarray(ink, "F").resize((size, size), Image.Resampling.BILINEAR))
    shear = rng.uniform(-SLANT, SLANT)
    pad = int(np.ceil(abs(shear) * size))
    wide = np.pad(ink, ((0, 0), (pad, pad)))
    # Row r moves by shear * (r - middle) pixels: the digit leans about its middle.
    transform = (1, -shear, shear * size / 2, 0, 1, 0)
    slanted = Image.fromarray(wide, "F").transform(
        wide.shape[::-1], Image.Transform.AFFINE, transform, Image.Resampling.BILINEAR
    )
    ink = np.clip(np.asarray(slanted), 0, 1)
    rows, cols = np.flatnonzero((ink > 0.1).any(axis=1)), np.flatnonzero((ink > 0.1).any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
