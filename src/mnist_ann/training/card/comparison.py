"""The card's "Compared with" section: this model against the one it would replace (the version
holding the `champion` alias, else the version before it), figure by figure, every difference
that shows at the card's four places marked in bold with whether it is better or worse."""

from __future__ import annotations

from typing import Any

from .facts import NOT_RECORDED, CardFacts
from .text import literal

# (metrics file, figure, what the card calls it, True where lower is better)
HEADLINE = (
    ("evaluate", "test_accuracy", "test accuracy", False),
    ("evaluate", "test_loss", "test loss", True),
    ("export", "onnx_test_accuracy", "ONNX test accuracy", False),
)
SHOWN_PLACES = 4  # the card prints figures to 4 places: a smaller difference does not show


def comparison(facts: CardFacts, baseline: CardFacts) -> str:
    """The section's body: the params that differ, then one row per figure either model has."""
    rows = [_row(label, facts.figure(f, n), baseline.figure(f, n), lower) for f, n, label, lower in HEADLINE]
    variants = dict.fromkeys([*(facts.metrics.get("robustness") or {}), *(baseline.metrics.get("robustness") or {})])
    rows += [
        _row(
            f"robustness: {literal(name)}", facts.figure("robustness", name), baseline.figure("robustness", name), False
        )
        for name in variants
    ]
    recall, baseline_recall = facts.per_digit("recall"), baseline.per_digit("recall")
    rows += [_row(f"recall of {d}", recall.get(d), baseline_recall.get(d), False) for d in map(str, range(10))]
    params = [f"`{name}` {_text(old)} → {_text(new)}" for name, (old, new) in differing_params(facts, baseline).items()]
    better = sum(row[-1].endswith("(better)") for row in rows)
    worse = sum(row[-1].endswith("(worse)") for row in rows)
    lead = (
        f"Against {literal(baseline.title)}: {better} figures better, {worse} worse (differences that show at "
        f"{SHOWN_PLACES} places are in bold). Params that differ: " + ("; ".join(params) or "none") + "."
    )
    lines = [f"| figure | this model | {literal(baseline.title)} | change |", "|---|---|---|---|"]
    return lead + "\n\n" + "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def differing_params(facts: CardFacts, baseline: CardFacts) -> dict[str, tuple[Any, Any]]:
    """The params the two models were trained with that differ: name -> (baseline's, this model's);
    None where one of them does not record the param. The experiment's name is not a difference."""
    names = dict.fromkeys([*baseline.params, *facts.params])
    return {
        name: (baseline.params.get(name), facts.params.get(name))
        for name in names
        if facts.params.get(name) != baseline.params.get(name) and name != "mlflow.experiment_name"
    }


def _row(label: str, value: Any, earlier: Any, lower_is_better: bool) -> list[str]:
    if not (_number(value) and _number(earlier)):
        return [label, _figure(value), _figure(earlier), NOT_RECORDED if value is None or earlier is None else ""]
    change = round(value - earlier, SHOWN_PLACES)
    if change == 0:
        return [label, _figure(value), _figure(earlier), "same"]
    better = (change < 0) == lower_is_better
    return [label, _figure(value), _figure(earlier), f"**{change:+.4f}** ({'better' if better else 'worse'})"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _figure(value: Any) -> str:
    return f"{value:.4f}" if _number(value) else NOT_RECORDED


def _text(value: Any) -> str:
    return NOT_RECORDED if value is None else literal(value)
