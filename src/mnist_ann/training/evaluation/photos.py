"""Digits as a phone photographs a sheet of paper: dark ink on grey paper, both lit unevenly (a
linear gradient in any direction, darker corners, or a soft shadow), with sensor noise. What the
evaluate stage's photo variant is made of, and what the suite's photo folders are made of."""

from __future__ import annotations

import numpy as np

LIGHTS = ("gradient", "corners", "shadow")


def on_paper(ink: np.ndarray, rng: np.random.Generator, max_gradient: float = 120, noise: float = 6) -> np.ndarray:
    """`ink` (h, w) in [0, 1] (1: full ink) photographed: float32 greys 0-255 on paper of grey
    150-210, ink of grey 15-60 where the light is even, the light varying by up to `max_gradient`
    grey levels across the picture, Gaussian noise of sigma `noise`."""
    height, width = ink.shape
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    across = rows * np.sin(angle) + cols * np.cos(angle)
    light = LIGHTS[rng.integers(len(LIGHTS))]
    if light == "gradient":
        lit = across * rng.uniform(0.5, 1) * max_gradient
    elif light == "corners":
        lit = -(rows**2 + cols**2) * rng.uniform(0.3, 1) * max_gradient
    else:
        lit = -max_gradient / 2 / (1 + np.exp(-across * 12))
    paper = rng.integers(150, 211)  # the paper's grey, and the ink's, where the light is even
    darkness = 1 - rng.integers(15, 61) / paper  # the light dims ink and paper alike
    photo = (paper + lit) * (1 - ink * darkness) + rng.normal(0, noise, ink.shape)
    return np.clip(photo, 0, 255).astype(np.float32)


def placed(ink: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """`ink` (h, w) at a random place on a blank (side, side) page."""
    page = np.zeros((side, side), np.float32)
    top, left = rng.integers(0, side - ink.shape[0] + 1), rng.integers(0, side - ink.shape[1] + 1)
    page[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return page


PAPERS = ("ruled", "squared")
LINE_INKS = {"blue-grey": (0.25, 0.45), "black": (0.75, 1.0)}  # a line's ink, as a share of the pen's


def lined(ink: np.ndarray, rng: np.random.Generator, paper: str, digit_height: float) -> np.ndarray:
    """`ink` (h, w) on ruled or squared `paper`: lines 1-2 pixels thick, tilted by up to 1.5
    degrees, spaced 0.7-1.6 times `digit_height` (the pixels the digit stands) apart at an offset
    drawn at random, so that lines pass through the digit and beside it; of a blue-grey or a black
    ink (LINE_INKS), drawn per picture. The digit's ink stays where it is darker."""
    height, width = ink.shape
    low, high = LINE_INKS[list(LINE_INKS)[rng.integers(len(LINE_INKS))]]
    strength, thickness = rng.uniform(low, high), int(rng.integers(1, 3))
    spacing = rng.uniform(0.7, 1.6) * digit_height
    tilt = np.tan(np.radians(rng.uniform(-1.5, 1.5)))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    lines = np.zeros_like(ink)
    for across, along in ((rows, cols), (cols, rows))[: 2 if paper == "squared" else 1]:
        position = (across + along * tilt - rng.uniform(0, spacing)) % spacing  # from the nearest line
        lines = np.maximum(lines, (position < thickness).astype(np.float32) * strength)
    return np.maximum(ink, lines)
