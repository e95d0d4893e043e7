"""A comparison report as Markdown that a code-hosting site renders (headings, tables, `code`,
**bold**; nothing else), for a pull request or a review. html.py of the card package turns the
same text into one self-contained page. Every name a store or a file gave (a param, a tag, a
variant) is shown literally (card/text.py)."""

from __future__ import annotations

from typing import Any

from ...tracking.tags import CPU, DVC_EXPERIMENT, GIT_COMMIT, NUMERICS
from ..card.comparison import differing_params
from ..card.facts import NOT_RECORDED
from ..card.text import literal
from ..evaluation.paired import TIMING_REPEATS
from .figures import Report, Row
from .sides import Side

# lineage rows, by tag and what the report calls them
LINEAGE = {
    GIT_COMMIT: "git commit",
    DVC_EXPERIMENT: "DVC experiment",
    "mlflow_run_id": "MLflow run",
    NUMERICS: "numerics",
    CPU: "trained on",
}


def render(report: Report) -> str:
    a, b = report.a, report.b
    level = f"{report.confidence:.0%}"
    parts = [
        f"# Comparison: {literal(b.name)} against {literal(a.name)}",
        f"A is {literal(a.name)}; B is {literal(b.name)}. Every change is B - A. Measured now on "
        f"{literal(report.test_images)} and the robustness variants made from it, on {literal(report.machine)}; "
        f"a change is called better or worse only where its {level} confidence interval (paired, image by image) "
        "excludes no change.",
        "## The promotion gate",
        f"Were B the candidate and A the champion (params.yaml's `promote` thresholds): "
        f"**{'promoted' if report.decision.promoted else 'refused'}**: {literal(report.decision.reason)}",
        _table(
            ["", "A", "B"],
            [["`promotion` tag in the registry", _text(a.promotion), _text(b.promotion)]],
        ),
        "## Params that differ",
        _params(a, b),
        "## Test set, image by image",
        _measured(report.measured, level),
        "## Each digit (recall)",
        _measured(report.digits, level),
        "## Robustness variants",
        _measured(report.variants, level) if report.variants else "Not measured.",
        "## Parity and speed",
        _speed(report),
        "## Confusion matrices on the test set",
        "Rows: the true digit; A0 to A9: how often A read it as each digit; B0 to B9: how often B did (in bold "
        "where B's count differs from A's).",
        _confusion(*report.confusion),
        "## Every figure the runs recorded",
        "As each run (or workspace) recorded it when it was made; the figures above were measured now.",
        _table(
            ["figure", "A", "B", "change"], [[literal(r.figure), _n(r.a), _n(r.b), _change(r)] for r in report.recorded]
        ),
        "## Lineage",
        _table(
            ["", "A", "B"],
            [
                [label, _text(a.facts.lineage.get(tag)), _text(b.facts.lineage.get(tag))]
                for tag, label in LINEAGE.items()
            ]
            + [["test data (md5)", _text(_data_md5(a)), _text(_data_md5(b))]],
        ),
    ]
    return "\n\n".join(parts) + "\n"


def _params(a: Side, b: Side) -> str:
    changed = differing_params(b.facts, a.facts)
    if not changed:
        return "None: both were trained with the same params."
    return _table(
        ["param", "A", "B"], [[f"`{literal(n)}`", _text(old), _text(new)] for n, (old, new) in changed.items()]
    )


def _measured(rows: list[Row], level: str) -> str:
    header = ["figure", "A", "B", "change", f"{level} interval", "reading"]
    lines = []
    for row in rows:
        interval = f"{row.interval.low:+.4f} to {row.interval.high:+.4f}" if row.interval else ""
        reading = f"**{row.verdict}**" if row.verdict in ("better", "worse") else row.verdict
        if row.note:
            reading = f"{reading}; {literal(row.note)}" if reading else literal(row.note)
        lines.append([literal(row.figure), _n(row.a), _n(row.b), _change(row), interval, reading])
    return _table(header, lines)


def _speed(report: Report) -> str:
    a, b = report.a.facts, report.b.facts
    a_time, b_time = report.speed
    rows = [
        [
            "ONNX parity: max abs difference from Keras",
            _n(a.figure("export", "max_abs_diff")),
            _n(b.figure("export", "max_abs_diff")),
        ],
        [
            "ONNX parity: answers equal to Keras'",
            _n(a.figure("export", "argmax_agreement")),
            _n(b.figure("export", "argmax_agreement")),
        ],
        ["scoring time per image, µs (measured now)", f"{a_time * 1e6:.3f}", f"{b_time * 1e6:.3f}"],
    ]
    said = (
        f"B takes {b_time / a_time:.2f}x A's time per image (the fastest of {TIMING_REPEATS} passes over the "
        "test set, one batch, the same threads)."
    )
    return said + "\n\n" + _table(["", "A", "B"], rows)


def _confusion(a: list[list[int]], b: list[list[int]]) -> str:
    header = ["true", *(f"A{d}" for d in range(10)), "", *(f"B{d}" for d in range(10))]
    rows = []
    for digit in range(10):
        mine = [str(n) if n == a[digit][i] else f"**{n}**" for i, n in enumerate(b[digit])]
        rows.append([str(digit), *map(str, a[digit]), "", *mine])
    return _table(header, rows)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _change(row: Row) -> str:
    return NOT_RECORDED if row.change is None else _n(row.change, "+")


def _n(value: Any, sign: str = "") -> str:
    """A figure to 4 places; a count as a whole number; a small one (a parity difference) to 3 figures."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return NOT_RECORDED
    if isinstance(value, int) or (float(value).is_integer() and abs(value) > 1):  # a count, an opset
        return format(int(value), f"{sign},")
    return format(value, f"{sign}.3g" if 0 < abs(value) < 1e-3 else f"{sign}.4f")


def _text(value: Any) -> str:
    return NOT_RECORDED if value is None else literal(value)


def _data_md5(side: Side) -> Any:
    return next((d.get("md5") for d in side.facts.data if d.get("path") == "data/processed"), None)
