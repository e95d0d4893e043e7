"""Two models measured on the same pictures, picture by picture: each model's answers on the test
set and on every robustness variant, and its time per image (`measure`); and the statistics of a
paired difference (`mean_difference`, `mcnemar_exact`). What the promotion gate decides on and
what `mnist-ann compare` reports. numpy only: a model is a function from model-ready pixels to
probabilities (an onnxruntime session's `predict`)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...core.mnist import preprocess
from .robustness import VariantSet, correct_on, variant_accuracies
from .scores import losses

Predict = Callable[[np.ndarray], np.ndarray]  # model-ready pixels (n, 784) to probabilities (n, 10)
TIMING_REPEATS = 3  # the time per image is the fastest of these passes over the test set


@dataclass(frozen=True)
class Measured:
    """One model on the test set (its probabilities) and on each variant (right or wrong per picture)."""

    probabilities: np.ndarray  # (n, 10), float
    labels: np.ndarray  # (n,), the test labels
    variant_correct: dict[str, np.ndarray]  # bool per picture, by variant name; {} where not measured
    seconds_per_image: float

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def losses(self) -> np.ndarray:
        """Categorical cross-entropy per test image, as Keras computes it."""
        return losses(self.probabilities, self.labels)

    @property
    def variants(self) -> dict[str, float]:
        """The accuracy on each variant, and `mean`."""
        return variant_accuracies(self.variant_correct)


def measure(
    predict: Predict, pixels: np.ndarray, labels: np.ndarray, sets: Mapping[str, VariantSet], *, timed: bool = True
) -> Measured:
    """`predict` on the test set (pixels (n, 784)) and on the variant sets (uint8 digits; none: not
    measured), and (`timed`) the fastest of TIMING_REPEATS passes over the test set, per image; NaN
    untimed, for a caller that times two models together (fastest_passes)."""
    probabilities = predict(pixels)
    variant_correct = correct_on(lambda digits: predict(preprocess(digits)), dict(sets))
    seconds = fastest_passes([predict], pixels)[0] if timed else math.nan
    return Measured(probabilities, labels, variant_correct, seconds)


def fastest_passes(
    predicts: Sequence[Predict],
    pixels: np.ndarray,
    repeats: int = TIMING_REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Each of `predicts`' fastest pass over `pixels`, per image, by `clock` (seconds of wall time
    unless told). The passes alternate between the models, so that a change in the machine's load
    falls on all of them alike: timed one after the other on a loaded machine, the same network once
    measured 3.2x slower than itself."""
    fastest = [math.inf] * len(predicts)
    for _ in range(repeats):
        for i, predict in enumerate(predicts):
            started = clock()
            predict(pixels)
            fastest[i] = min(fastest[i], (clock() - started) / len(pixels))
    return fastest


@dataclass(frozen=True)
class Difference:
    """The mean of `candidate - baseline` over paired values, with its confidence interval."""

    difference: float
    low: float
    high: float


def mean_difference(candidate: np.ndarray, baseline: np.ndarray, confidence: float) -> Difference:
    """The mean paired difference of two models' per-image values (right as 1, wrong as 0, or a
    loss), with a normal confidence interval on the per-image differences: what is known of the
    difference on images like these, not only on these."""
    differences = candidate.astype(np.float64) - baseline.astype(np.float64)
    mean = float(differences.mean())
    spread = float(differences.std()) / math.sqrt(len(differences))
    half = statistics.NormalDist().inv_cdf(0.5 + confidence / 2) * spread
    return Difference(mean, mean - half, mean + half)


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: the two-sided p-value of b images favouring one model and c the other,
    were each as likely (a binomial test of min(b, c) in b + c trials at 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)
