"""The figures of a comparison report: what both models are measured to do now on the same
pictures (each difference with its paired confidence interval), and every figure their runs (or
workspaces) recorded, side by side. B is compared with A: a change is B - A."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..card.facts import METRICS, CardFacts
from ..evaluation.paired import Difference, Measured, mcnemar_exact, mean_difference
from ..evaluation.scores import confusion_matrix
from ..promotion import Decision, Rules, decide
from .sides import Side


@dataclass(frozen=True)
class Row:
    """One figure of both models. `interval`: the paired difference with its confidence interval,
    where it was measured on the same pictures; None for a recorded figure."""

    figure: str
    a: float | None
    b: float | None
    lower_is_better: bool = False
    interval: Difference | None = None
    note: str = ""  # e.g. McNemar's p-value

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def verdict(self) -> str:
        """`better` or `worse` (for B) where the interval excludes no difference, else `no clear difference`."""
        if self.interval is None:
            return ""
        if self.interval.low <= 0 <= self.interval.high:
            return "no clear difference"
        return "better" if (self.interval.low > 0) != self.lower_is_better else "worse"


def test_rows(a: Measured, b: Measured, confidence: float) -> list[Row]:
    """Test accuracy (with McNemar's exact test) and test loss, paired image by image."""
    a_only = int(np.count_nonzero(a.correct & ~b.correct))
    b_only = int(np.count_nonzero(b.correct & ~a.correct))
    note = f"McNemar p={mcnemar_exact(a_only, b_only):.3g} ({a_only} images only A reads, {b_only} only B)"
    return [
        Row("test accuracy", a.accuracy, b.accuracy, False, mean_difference(b.correct, a.correct, confidence), note),
        Row(
            "test loss",
            float(a.losses.mean()),
            float(b.losses.mean()),
            True,
            mean_difference(b.losses, a.losses, confidence),
        ),
    ]


def digit_rows(a: Measured, b: Measured, confidence: float) -> list[Row]:
    """The recall of each digit, paired on the test images of that digit."""
    rows = []
    for digit in range(10):
        mine = a.labels == digit
        if not mine.any():
            continue
        a_right, b_right = a.correct[mine], b.correct[mine]
        interval = mean_difference(b_right, a_right, confidence)
        rows.append(Row(f"recall of {digit}", float(a_right.mean()), float(b_right.mean()), False, interval))
    return rows


def variant_rows(a: Measured, b: Measured, confidence: float) -> list[Row]:
    """The accuracy on each robustness variant, paired picture by picture; and their mean."""
    rows = [
        Row(name, float(right.mean()), float(b.variant_correct[name].mean()), False, interval)
        for name, right in a.variant_correct.items()
        for interval in [mean_difference(b.variant_correct[name], right, confidence)]
    ]
    if rows:
        rows.append(Row("mean of the variants", a.variants["mean"], b.variants["mean"]))
    return rows


def recorded_rows(a: CardFacts, b: CardFacts) -> list[Row]:
    """Every figure either side's run (or workspace) recorded, by metrics file and name
    (`evaluate.recall.3`), in the files' order."""
    a_figures, b_figures = dict(_flat(a)), dict(_flat(b))
    names = dict.fromkeys([*a_figures, *b_figures])
    return [Row(name, a_figures.get(name), b_figures.get(name), _lower_is_better(name)) for name in names]


def _flat(facts: CardFacts) -> Iterator[tuple[str, float]]:
    for file in METRICS:
        for name, value in (facts.metrics.get(file) or {}).items():
            if isinstance(value, dict):
                yield from ((f"{file}.{name}.{key}", v) for key, v in value.items())
            else:
                yield f"{file}.{name}", value


def _lower_is_better(name: str) -> bool:
    return any(word in name for word in ("loss", "max_abs_diff"))


@dataclass(frozen=True)
class Report:
    """Everything the report shows."""

    a: Side
    b: Side
    test_images: str  # where the test split came from, and its size
    machine: str  # where the models were measured now
    confidence: float
    decision: Decision  # the gate, B as the candidate against A as the champion
    measured: list[Row]  # test accuracy and loss
    digits: list[Row]
    variants: list[Row]
    recorded: list[Row]
    speed: tuple[float, float]  # seconds per image, A and B
    confusion: tuple[list[list[int]], list[list[int]]]  # [actual][predicted], A and B


def report_of(sides: tuple[Side, Side], measured: tuple[Measured, Measured], rules: Rules, **where: str) -> Report:
    """The report of B (the second) against A, as both were measured on the same pictures; `where`:
    test_images and machine, as the report names them."""
    (a, b), (ma, mb) = sides, measured
    return Report(
        a=a,
        b=b,
        test_images=where["test_images"],
        machine=where["machine"],
        confidence=rules.confidence,
        decision=decide(mb, ma, rules, "A"),
        measured=test_rows(ma, mb, rules.confidence),
        digits=digit_rows(ma, mb, rules.confidence),
        variants=variant_rows(ma, mb, rules.confidence),
        recorded=recorded_rows(a.facts, b.facts),
        speed=(ma.seconds_per_image, mb.seconds_per_image),
        confusion=(
            confusion_matrix(ma.labels, ma.predicted).tolist(),
            confusion_matrix(mb.labels, mb.predicted).tolist(),
        ),
    )
