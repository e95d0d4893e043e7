"""Distortions of the training digits, drawn afresh each epoch, so that a model trained on MNIST also
reads digits that are turned, larger or smaller, slanted, moved, bolder or thinner, blurred or noisy
(issue 24). They change the training images only, outside the model: the exported ONNX graph and
its parity gate are the same with or without them (Keras' random image layers inside a model break
tf2onnx).

numpy only and vectorised over the whole epoch, in chunks small enough to stay in cache and spread
over threads (numpy releases the GIL in its loops): no per-image Python loop. Every random draw
comes from (seed, epoch) and is made before the chunks are shared out, so that the distorted epoch
is the same whatever the number of threads or their order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .resample import SIDE, Workspace, warp

CHUNK = 512  # images per unit of work: its float32 temporaries (a few MB) stay in cache


@dataclass(frozen=True)
class Distortions:
    """The range of each distortion; 0 turns one off, and all 0 is the seed's plain training."""

    rotation: float = 0.0  # degrees: each digit turned by up to +-rotation
    scale: float = 0.0  # each digit scaled by a factor from 1-scale to 1+scale
    shear: float = 0.0  # degrees: slanted by up to +-shear, as handwriting leans
    shift: float = 0.0  # pixels: moved by up to +-shift across and down
    stroke: float = 0.0  # share of digits drawn a pixel bolder (half of them) or thinner (the other half)
    blur: float = 0.0  # share of digits blurred, by a Gaussian of sigma 0.5 to 1 pixel
    noise: float = 0.0  # grey levels (of 255): each digit gets Gaussian noise of sigma up to this

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class _Draws:
    """One epoch's random choices for every image: the inverse affine maps and the other draws."""

    inverse: np.ndarray  # (n, 2, 2) float32: output offset from the centre -> source offset
    offset: np.ndarray  # (n, 2) float32: source position of the output centre, (x, y)
    stroke: np.ndarray  # (n,) int8: +1 bolder, -1 thinner, 0 as drawn
    blur_sigma: np.ndarray  # (n,) float32: 0 for no blur
    noise_sigma: np.ndarray  # (n,) float32, in units of the pixel range [0, 1]
    noise_row: np.ndarray  # (n,) intp: which field of the epoch's noise bank each image gets
    noise_bank: np.ndarray  # (NOISE_FIELDS, 784) float32 standard normal


NOISE_FIELDS = 4096  # distinct noise fields per epoch: drawing one per image would cost a third of the epoch


def epoch_distorter(distortions: Distortions, seed: int) -> Callable | None:
    """`distort` as `model.fit` takes it, `(images, epoch, order) -> images`; None when nothing is
    on, so that training takes the seed's plain path, bit for bit."""
    if not distortions.active:
        return None
    return lambda images, epoch, order: distort(images, distortions, seed=seed, epoch=epoch, order=order)


def distort(
    images: np.ndarray, distortions: Distortions, *, seed: int, epoch: int, order=None, threads: int = 2
) -> np.ndarray:
    """`images` (n, 784) float32 in [0, 1], each distorted at random; the same (seed, epoch) gives
    the same result whatever `threads`. With `order` (a permutation), the result is
    `distort(images)[order]`, made without that whole-epoch copy: each chunk gathers its rows
    (and their draws) as it goes. The input is not changed."""
    if not distortions.active:
        return images if order is None else images[order]
    draws = _draw(len(images), distortions, np.random.default_rng([seed, epoch]))
    out = np.empty_like(images)
    workers = max(1, min(threads, math.ceil(len(images) / CHUNK)))

    def work(worker: int) -> None:
        space = Workspace(CHUNK)
        for start in range(worker * CHUNK, len(images), workers * CHUNK):
            part = slice(start, min(start + CHUNK, len(images)))
            rows = part if order is None else order[part]  # the images (and their draws) for this chunk
            chunk = warp(images[rows], draws.inverse[rows], draws.offset[rows], space)
            chunk = _restroke(chunk, draws.stroke[rows])
            chunk = _blur(chunk, draws.blur_sigma[rows]).reshape(len(chunk), -1)
            noise = np.take(draws.noise_bank, draws.noise_row[rows], axis=0, out=space.noise[: len(chunk)])
            noise *= draws.noise_sigma[rows, None]
            chunk += noise
            np.clip(chunk, 0, 1, out=out[part])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))  # list(): re-raises a worker's exception here
    return out


def _draw(n: int, d: Distortions, rng: np.random.Generator) -> _Draws:
    def uniform(limit: float) -> np.ndarray:
        return rng.uniform(-limit, limit, n).astype(np.float32)

    turn, lean = np.radians(uniform(d.rotation)), np.radians(uniform(d.shear))
    factor = 1 + uniform(d.scale)
    cos, sin, slant = np.cos(turn), np.sin(turn), np.tan(lean)
    # forward map: scale, then shear (x += slant * y), then turn; inverted, as resampling needs
    forward = np.empty((n, 2, 2), np.float32)
    forward[:, 0, 0], forward[:, 0, 1] = cos * factor, (cos * slant - sin) * factor
    forward[:, 1, 0], forward[:, 1, 1] = sin * factor, (sin * slant + cos) * factor
    inverse = np.linalg.inv(forward).astype(np.float32)
    moved = np.stack([uniform(d.shift), uniform(d.shift)], axis=1)
    offset = (SIDE - 1) / 2 - np.einsum("nij,nj->ni", inverse, moved)
    pick = rng.random(n)
    stroke = np.where(pick < d.stroke / 2, 1, np.where(pick < d.stroke, -1, 0)).astype(np.int8)
    blur_sigma = np.where(rng.random(n) < d.blur, rng.uniform(0.5, 1.0, n), 0).astype(np.float32)
    noise_sigma = (rng.uniform(0, d.noise, n) / 255).astype(np.float32)
    noise_row = rng.integers(0, NOISE_FIELDS, n).astype(np.intp)
    noise_bank = rng.standard_normal((NOISE_FIELDS, SIDE * SIDE), dtype=np.float32)
    return _Draws(inverse, offset.astype(np.float32), stroke, blur_sigma, noise_sigma, noise_row, noise_bank)


def _neighbourhood(images: np.ndarray, pick) -> np.ndarray:
    """Each pixel's 3x3 maximum (pick=np.maximum) or minimum (np.minimum), the border padded black."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    across = pick(pick(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])
    return pick(pick(across[:, :-2], across[:, 1:-1]), across[:, 2:])


def _restroke(images: np.ndarray, stroke: np.ndarray) -> np.ndarray:
    """Grey dilation for the digits marked +1 (a bolder pen), erosion for those marked -1."""
    for mark, pick in ((1, np.maximum), (-1, np.minimum)):
        chosen = np.flatnonzero(stroke == mark)
        if len(chosen):
            images[chosen] = _neighbourhood(images[chosen], pick)
    return images


def _blur(images: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """A separable 5-tap Gaussian of each chosen digit's own sigma (0: left as it is)."""
    chosen = np.flatnonzero(sigma > 0)
    if not len(chosen):
        return images
    taps = np.exp(-(np.arange(-2, 3, dtype=np.float32) ** 2) / (2 * sigma[chosen, None] ** 2))
    taps /= taps.sum(axis=1, keepdims=True)  # (k, 5)
    padded = np.pad(images[chosen], ((0, 0), (2, 2), (2, 2)))
    across = sum(taps[:, i, None, None] * padded[:, :, i : i + SIDE] for i in range(5))
    images[chosen] = sum(taps[:, i, None, None] * across[:, i : i + SIDE, :] for i in range(5))
    return images
