"""A fixed set of digits that MNIST did not make: the fonts matplotlib ships (so that every machine
with this package has them) at random sizes, pen widths, slants and turns, as tight crops, as scans
of white paper and as photos of grey paper (photos.py). Seeded: the same pictures on every run and
machine, so that the evaluate stage's `rendered` accuracy compares experiments on equal terms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .photos import on_paper, placed

SEED = 2024  # the set's own seed
COUNT = 300  # pictures in the set: digit i shows i % 10
KINDS = ("crop", "scan", "photo")  # light on black cut to the digit; ink on white paper; ink on lit paper
# Fonts among matplotlib's whose digits are plain digits (not old-style figures or symbols).
FONTS = (
    *(
        f"DejaVu{family}{style}.ttf"
        for family in ("Sans", "SansMono", "Serif")
        for style in ("", "-Bold", "-Oblique" if family != "Serif" else "-Italic")
    ),
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)


def glyph(digit: int, font: str, size: int, *, pen: int, slant: float, turn: float) -> np.ndarray:
    """`digit` drawn light on black in `font` at `size` points, its strokes widened by `pen` pixels,
    slanted by `slant` (x shifted by slant * y) and turned `turn` degrees; float32 in [0, 1],
    cropped to its ink."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font), size)
    canvas = Image.new("L", (size * 3, size * 3), 0)
    ImageDraw.Draw(canvas).text((size, size // 2), str(digit), fill=255, font=face, stroke_width=pen, stroke_fill=255)
    centre = size * 1.5
    canvas = canvas.transform(
        canvas.size, Image.Transform.AFFINE, (1, slant, -slant * centre, 0, 1, 0), resample=Image.Resampling.BICUBIC
    )
    canvas = canvas.rotate(turn, resample=Image.Resampling.BICUBIC)
    return np.asarray(canvas.crop(canvas.getbbox()), np.float32) / 255


def rendered_set(count: int = COUNT, seed: int = SEED) -> tuple[list[np.ndarray], np.ndarray]:
    """The pictures (float32 greys 0-255, each its own size) and their digits (uint8)."""
    rng = np.random.default_rng(seed)
    pictures = []
    for i in range(count):
        font = FONTS[rng.integers(len(FONTS))]
        size = int(rng.integers(24, 91))
        pen = int(rng.integers(0, size // 20 + 1))  # a pen's width grows with the writing: no blots
        ink = glyph(i % 10, font, size, pen=pen, slant=rng.uniform(-0.3, 0.3), turn=rng.uniform(-10, 10))
        kind = KINDS[i % len(KINDS)]
        if kind == "crop":
            margin = int(rng.integers(0, 5))
            pictures.append(np.pad(ink, margin) * 255)
            continue
        page = placed(ink, int(max(ink.shape) * rng.uniform(1.6, 3.0)), rng)
        if kind == "scan":
            paper, tone = rng.integers(200, 251), rng.integers(10, 81)
            scan = paper - page * (paper - tone) + rng.normal(0, 6, page.shape)
            pictures.append(np.clip(scan, 0, 255).astype(np.float32))
        else:
            pictures.append(on_paper(page, rng))
    return pictures, (np.arange(count) % 10).astype(np.uint8)
