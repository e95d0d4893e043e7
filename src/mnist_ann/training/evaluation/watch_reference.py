"""The monitoring reference an exported model carries (core/monitoring.py).

- The temperature and the quantiles come from held-out images: the even-numbered half of the
  MNIST test set (REFERENCE_IMAGES). Every other one, not the first 5,000: MNIST's test set puts
  its two groups of writers in its two halves, and the first half is measurably harder (0.961 of
  it read right against 0.978 of the second, by the seed's model), which a reference from one half
  would call drift in the other. The odd-numbered half is what the tests and `make bench` measure
  false alarms and the estimate on. Every test figure of the pipeline (accuracy, loss, the
  variants) still uses the whole test set: the temperature changes no answer.
- The principal components come from training images (PCA_IMAGES): a residual measured on the
  images the components were fitted to is smaller than on any other, and so would not be the
  reference's."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ...core.mnist import NUM_CLASSES
from ...core.monitoring import SIGNALS, Reference, calibrate

REFERENCE_IMAGES = slice(0, None, 2)  # of the test images: the even-numbered half
PCA_IMAGES = slice(0, None, 3)  # of the training images: 20,000 of 60,000 (seconds, not tens)
COMPONENTS = 32  # principal components: MNIST's digits lie close to a few dozen directions
QUANTILES = 101  # per digit and signal: enough for a rank to 0.01


def build_reference(
    predict: Callable[[np.ndarray], np.ndarray], test: tuple[np.ndarray, np.ndarray], train_pixels: np.ndarray
) -> Reference:
    """The reference of the model `predict` (pixels (n, 784) to probabilities) from the test split
    (pixels, labels: its REFERENCE_IMAGES) and the training pixels (its PCA_IMAGES)."""
    pixels, labels = test[0][REFERENCE_IMAGES], test[1][REFERENCE_IMAGES]
    probabilities = predict(pixels)
    temperature = fit_temperature(probabilities, labels)
    fitted = train_pixels[PCA_IMAGES].astype(np.float32)
    mean = fitted.mean(axis=0, dtype=np.float64).astype(np.float32)
    centred = fitted - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues: the last are the leading
    components = vectors[:, ::-1][:, :COMPONENTS]
    # stored as float16: the quantiles are those of the stored arrays, so that a batch is measured
    # exactly as the reference was
    as_stored = {name: a.astype(np.float16).astype(np.float32) for name, a in (("m", mean), ("c", components))}
    empty = {name: np.zeros((NUM_CLASSES, 2)) for name in SIGNALS}
    draft = Reference(temperature, as_stored["m"], as_stored["c"], empty, len(pixels), "")
    signals = draft.signals(pixels, probabilities)
    grid = np.linspace(0, 1, QUANTILES)
    quantiles = {}
    for name in SIGNALS:
        everywhere = np.quantile(signals[name], grid)
        quantiles[name] = np.stack(
            [
                np.quantile(signals[name][signals["digit"] == digit], grid)
                if np.count_nonzero(signals["digit"] == digit) >= 2
                else everywhere  # a digit the model never read here: all images stand in
                for digit in range(NUM_CLASSES)
            ]
        )
    data = (
        f"{len(pixels):,} held-out MNIST test images (the even-numbered half of the test split); "
        f"principal components of {len(fitted):,} training images"
    )
    return Reference(temperature, as_stored["m"], as_stored["c"], quantiles, len(pixels), data)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that maximises the likelihood of `labels` under softmax(log p / T): a
    golden-section search on log T in [-3, 3] (the likelihood is unimodal in T)."""

    def loss(log_t: float) -> float:
        calibrated = calibrate(probabilities, math.exp(log_t))
        return float(-np.log(np.maximum(calibrated[np.arange(len(labels)), labels], 1e-300)).mean())

    low, high = -3.0, 3.0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):  # the interval shrinks to 6 * 0.618**60: far below any figure shown
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)
