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
TEMPERATURE_DECIMALS = 4


def build_reference(
    predict: Callable[[np.ndarray], np.ndarray], test: tuple[np.ndarray, np.ndarray], train_pixels: np.ndarray
) -> Reference:
    """The reference of the model `predict` (pixels (n, 784) to probabilities) from the test split
    (pixels, labels: its REFERENCE_IMAGES) and the training pixels (its PCA_IMAGES)."""
    pixels, labels = test[0][REFERENCE_IMAGES], test[1][REFERENCE_IMAGES]
    probabilities = predict(pixels)
    temperature = fit_temperature(probabilities, labels)
    fitted = train_pixels[PCA_IMAGES].astype(np.float64)
    mean = fitted.mean(axis=0)
    centred = fitted - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues: the last are the leading
    components = _signed(vectors[:, ::-1][:, :COMPONENTS])
    # stored as float16: the quantiles are those of the stored arrays, so that a batch is measured
    # exactly as the reference was. + 0: a pixel MNIST never inks has components of about 1e-17 of
    # either sign, which round to -0 or +0 by the machine; -0 + 0 is +0.
    as_stored = {name: a.astype(np.float16).astype(np.float32) + 0 for name, a in (("m", mean), ("c", components))}
    empty = {name: np.zeros((NUM_CLASSES, 2)) for name in SIGNALS}
    draft = Reference(temperature, as_stored["m"], as_stored["c"], empty, len(pixels), "")
    # Measured in float64, and calibrated by `calibrate` rather than predict's float32 shortcut: in
    # float32 a sum's last bits depend on the BLAS kernel the CPU gets and on its thread count, and
    # they reached the stored quantiles (the committed model.onnx differed between two machines).
    digits = probabilities.argmax(axis=1)
    signals = {
        "digit": digits,
        "confidence": calibrate(probabilities, temperature)[np.arange(len(digits)), digits],
        "residual": draft.residuals(pixels.astype(np.float64)),
    }
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
    # Rounded: near the optimum two losses differ by less than a libm's last bit, and which side the
    # search keeps there is the machine's; a tenth of a thousandth changes no calibrated figure shown.
    return round(math.exp((low + high) / 2), TEMPERATURE_DECIMALS)


def _signed(components: np.ndarray) -> np.ndarray:
    """Each column with its largest entry positive: an eigenvector's sign is arbitrary, and LAPACK's
    choice need not be the same for sums rounded differently."""
    rows = np.abs(components).argmax(axis=0)
    return components * np.sign(components[rows, np.arange(components.shape[1])])
