"""Handwriting that no MNIST writer produced: each digit drawn as a pen draws it (strokes through a
skeleton of the digit, in the shapes people use: a 1 with or without its flag, a 4 open or closed,
a 7 with or without its bar), every picture in a hand of its own (slant, width, tilt, a wobble along
the stroke, a pen 3-9 pixels wide, dark ink on light paper, slightly out of focus). For the tests and
benchmarks that need digits from elsewhere (issue 39's monitoring families)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

Stroke = list[tuple[float, float]]  # points in a unit box, y down


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> Stroke:
    angles = np.radians(np.linspace(start, end, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _curve(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 16) -> Stroke:
    """A quadratic Bezier curve from p0 to p2, pulled towards p1."""
    t = np.linspace(0, 1, n)
    x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t * t * p2[0]
    y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t * t * p2[1]
    return list(zip(x.tolist(), y.tolist()))


def _line(p0: tuple[float, float], p1: tuple[float, float], n: int = 8) -> Stroke:
    return _curve(p0, ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2), p1, n)


def _skeletons() -> dict[int, tuple[list[Stroke], ...]]:
    """Each digit's strokes, in the pen's order: two shapes for the digits people write two ways."""
    one = _line((0.55, 0.05), (0.5, 0.95))
    two = _arc(0.5, 0.3, 0.3, 0.25, 200, 380, 20)
    seven = _line((0.15, 0.08), (0.85, 0.08)) + _line((0.85, 0.08), (0.4, 0.96))
    return {
        0: ([_arc(0.5, 0.5, 0.33, 0.45, -100, 265, 40)],),
        1: ([one], [_line((0.3, 0.25), (0.55, 0.05)) + one[1:]]),  # with or without its flag
        2: ([two + _curve(two[-1], (0.55, 0.7), (0.18, 0.93)) + _line((0.18, 0.93), (0.85, 0.92))],),
        3: ([_arc(0.48, 0.28, 0.3, 0.23, 200, 450) + _arc(0.48, 0.72, 0.33, 0.23, 270, 520)],),
        4: (  # closed (the diagonal meets the bar) or open
            [_line((0.6, 0.05), (0.15, 0.65)) + _line((0.15, 0.65), (0.88, 0.65)), _line((0.66, 0.3), (0.66, 0.97))],
            [_line((0.25, 0.05), (0.2, 0.6)) + _line((0.2, 0.6), (0.85, 0.58)), _line((0.7, 0.1), (0.68, 0.97))],
        ),
        5: (
            [
                _line((0.8, 0.05), (0.3, 0.06))
                + _line((0.3, 0.06), (0.26, 0.45))
                + _arc(0.48, 0.67, 0.32, 0.26, 240, 490)
            ],
        ),
        6: ([_curve((0.72, 0.05), (0.2, 0.3), (0.22, 0.7)) + _arc(0.48, 0.7, 0.27, 0.24, 180, 540, 30)],),
        7: ([seven], [seven, _line((0.4, 0.5), (0.8, 0.5))]),  # with or without its bar
        8: ([_arc(0.5, 0.27, 0.22, 0.21, 90, 450, 30) + _arc(0.5, 0.72, 0.28, 0.24, -90, 270, 30)],),
        9: ([_arc(0.48, 0.3, 0.25, 0.24, 0, 360, 30) + _curve((0.73, 0.3), (0.72, 0.6), (0.62, 0.96))],),
    }


SKELETONS = _skeletons()


def drawn_digits(count: int, seed: int) -> list[tuple[int, Any]]:
    """`count` (digit, picture) pairs, digit i showing i % 10; Pillow "L" pictures of 128x128."""
    from PIL import Image, ImageDraw, ImageFilter

    rng, found = random.Random(seed), []
    for i in range(count):
        digit = i % 10
        slant, narrow, tilt = rng.uniform(-0.35, 0.25), rng.uniform(0.55, 1.0), math.radians(rng.uniform(-8, 8))
        size, pen = rng.uniform(60, 90), round(rng.uniform(3.0, 9.0))
        wobble = [(rng.gauss(0, 0.025), rng.gauss(0, 0.025)) for _ in range(6)]  # the hand drifts along a stroke
        page = Image.new("L", (128, 128), rng.randint(200, 250))
        draw, ink = ImageDraw.Draw(page), rng.randint(0, 80)
        shapes = SKELETONS[digit]
        for stroke in shapes[rng.randrange(2) % len(shapes)]:
            points = []
            for k, (x, y) in enumerate(stroke):
                dx, dy = wobble[k * len(wobble) // len(stroke)]
                x, y = x - 0.5 + dx, y - 0.5 + dy
                x = (x - slant * y) * narrow
                x, y = x * math.cos(tilt) - y * math.sin(tilt), x * math.sin(tilt) + y * math.cos(tilt)
                points.append((64 + x * size, 64 + y * size))
            draw.line(points, fill=ink, width=pen, joint="curve")
        found.append((digit, page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))))
    return found
