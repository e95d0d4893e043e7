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
