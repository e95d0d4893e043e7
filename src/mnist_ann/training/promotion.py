"""The promotion gate: does a new version replace the champion? Both models are scored here, on the
same test images and the same robustness variants, and compared image by image.

- **Test accuracy**, paired: of the images one model gets right and the other wrong, `b` favour the
  champion and `c` the candidate. The difference in accuracy is (c - b) / n. Its lower confidence
  bound (a normal interval on the paired difference) must not fall below minus the margin: a model
  as good within the margin passes (non-inferiority). McNemar's exact test on b and c is reported
  beside it: how likely a split this uneven is between two equally good models.
- **Each robustness variant**: the candidate's accuracy at most `variant_margin` below the champion's.
- **Scoring time per image**, both models on the same batch and threads: at most `max_slowdown`
  times the champion's (a wider network is slower; the robust model's is about 2.3x).
- **A floor** for any champion, the first one included: `min_test_accuracy`.

The ONNX parity gate has passed before a version exists (the export stage), so every candidate here
scores as its Keras model does. Everything is numpy: the models are onnxruntime sessions, passed in
as functions from pixels to probabilities.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from .evaluation.robustness import VariantSet, accuracies_on

Predict = Callable[[np.ndarray], np.ndarray]  # model-ready pixels (n, 784) to probabilities (n, 10)
TIMING_REPEATS = 3  # the time per image is the fastest of these passes over the test set


@dataclass(frozen=True)
class Rules:
    """The thresholds, as params.yaml's `promote` section gives them."""

    min_test_accuracy: float
    accuracy_margin: float
    confidence: float
    variant_margin: float
    max_slowdown: float


@dataclass(frozen=True)
class Scores:
    """One model on the test set and the variants."""

    correct: np.ndarray  # bool per test image
    variants: dict[str, float]  # accuracy by variant name (and `mean`)
    seconds_per_image: float

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


@dataclass(frozen=True)
class Decision:
    """The gate's answer: promoted or not, why (one line, in figures), and the figures."""

    promoted: bool
    reason: str
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The version's `promotion` tag: `promoted: ...` or `refused: ...`."""
        return f"{'promoted' if self.promoted else 'refused'}: {self.reason}"


def score(predict: Predict, pixels: np.ndarray, labels: np.ndarray, sets: Mapping[str, VariantSet]) -> Scores:
    """`predict` on the test set (pixels (n, 784)) and on the variant sets (uint8 digits)."""
    from ..core.mnist import preprocess

    correct = predict(pixels).argmax(axis=1) == labels
    variants = accuracies_on(lambda digits: predict(preprocess(digits)), dict(sets))
    timings = []
    for _ in range(TIMING_REPEATS):
        started = time.perf_counter()
        predict(pixels)
        timings.append((time.perf_counter() - started) / len(pixels))
    return Scores(correct, variants, min(timings))


def decide(candidate: Scores, champion: Scores | None, rules: Rules, champion_name: str = "the champion") -> Decision:
    """Whether `candidate` replaces `champion` (None: there is none yet), under `rules`."""
    if candidate.accuracy < rules.min_test_accuracy:
        return Decision(False, f"test accuracy {candidate.accuracy:.4f} is below the floor {rules.min_test_accuracy:g}")
    if champion is None:
        return Decision(
            True, f"the first champion: test accuracy {candidate.accuracy:.4f} (floor {rules.min_test_accuracy:g})"
        )
    figures = paired_figures(candidate.correct, champion.correct, rules.confidence)
    worst = min((v for v in candidate.variants if v != "mean"), key=lambda v: _change(candidate, champion, v))
    slowdown = candidate.seconds_per_image / champion.seconds_per_image
    figures.update({"worst_variant_change": _change(candidate, champion, worst), "slowdown": slowdown})
    said = (
        f"test accuracy {candidate.accuracy:.4f} vs {champion.accuracy:.4f} ({champion_name}): "
        f"{figures['difference']:+.4f} [{rules.confidence:.0%} CI {figures['low']:+.4f}, {figures['high']:+.4f}], "
        f"McNemar p={figures['mcnemar_p']:.3g} ({int(figures['champion_only'])} vs {int(figures['candidate_only'])} "
        f"images); worst variant {worst} {figures['worst_variant_change']:+.4f}; "
        f"scoring {slowdown:.2f}x the champion's time"
    )
    failures = []
    if figures["low"] < -rules.accuracy_margin:
        failures.append(f"test accuracy may be more than {rules.accuracy_margin:g} below")
    if figures["worst_variant_change"] < -rules.variant_margin:
        failures.append(f"{worst} more than {rules.variant_margin:g} below")
    if slowdown > rules.max_slowdown:
        failures.append(f"more than {rules.max_slowdown:g}x slower")
    return Decision(not failures, (f"{'; '.join(failures)}: " if failures else "") + said, figures)


def _change(candidate: Scores, champion: Scores, variant: str) -> float:
    return candidate.variants[variant] - champion.variants.get(variant, 0.0)


def paired_figures(candidate: np.ndarray, champion: np.ndarray, confidence: float) -> dict[str, float]:
    """The paired comparison of two models' per-image correctness on the same images: the accuracy
    difference (candidate - champion) with its confidence interval (normal, on the per-image
    differences), the images only one of them gets right, and McNemar's exact two-sided p-value."""
    n = len(candidate)
    champion_only = int(np.count_nonzero(champion & ~candidate))
    candidate_only = int(np.count_nonzero(candidate & ~champion))
    difference = (candidate_only - champion_only) / n
    spread = math.sqrt(max(0.0, (champion_only + candidate_only) / n - difference**2) / n)
    half = statistics.NormalDist().inv_cdf(0.5 + confidence / 2) * spread
    return {
        "difference": difference,
        "low": difference - half,
        "high": difference + half,
        "champion_only": float(champion_only),
        "candidate_only": float(candidate_only),
        "mcnemar_p": mcnemar_exact(champion_only, candidate_only),
    }


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: the two-sided p-value of b images favouring one model and c the other,
    were each as likely (a binomial test of min(b, c) in b + c trials at 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def promote_version(uri: str, root: Path, data: Path, rules: Rules, *, force: bool = False) -> Decision:
    """`mnist-ann promote models:/NAME/N`: the gate applied by hand to a registered version, against
    the current champion, on the workspace's test split (`data`, the preprocess stage's folder);
    recorded on the version as export records it. `force` promotes whatever the gate says, and
    says so in the tag."""
    import tempfile

    from ..core.onnx_model import OnnxModel
    from ..tracking.champion import current_champion, record_in_store
    from ..tracking.fetch import fetch_onnx_model
    from .data import load_split
    from .evaluation.robustness import as_digits, variant_sets

    match = re.fullmatch(r"models:/([^/@]+)/(\d+)", uri)
    if not match:
        raise ModelError(f"promote: {uri}: name a registered version by number, models:/<name>/<version>")
    name, version = match[1], match[2]
    pixels, labels = load_split(data, "test")
    with tempfile.TemporaryDirectory(prefix="promote-") as folder:
        candidate = OnnxModel(fetch_onnx_model(uri, root, Path(folder) / "candidate"))
        found = current_champion(name, root, Path(folder) / "champion")
        if found is not None and found[0] == version:
            raise ModelError(f"promote: {uri} is the champion already")
        sets = variant_sets(as_digits(pixels), labels)
        mine = score(candidate.predict, pixels, labels, sets)
        theirs = score(OnnxModel(found[1]).predict, pixels, labels, sets) if found else None
    decision = decide(mine, theirs, rules, f"version {found[0]}" if found else "")
    if force and not decision.promoted:
        decision = Decision(True, f"forced by hand over the gate, which said: {decision.tag}", decision.figures)
    record_in_store(name, version, (decision.tag, decision.promoted), root)
    return decision
