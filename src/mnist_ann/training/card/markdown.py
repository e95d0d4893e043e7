"""The card as Markdown: Hugging Face-style YAML metadata first (`model-index` holds the results, as
the Hub reads them), then the sections a reviewer reads in order: what the model is, what it is
for, its data, its figures, where it fails, and where it came from."""

from __future__ import annotations

from typing import Any

import yaml

from .comparison import comparison
from .facts import NOT_RECORDED, SEED_RECIPE, CardFacts
from .text import literal, one_line

DIGITS = [str(d) for d in range(10)]
WEAKEST = 3  # digits and variants named under "Where it fails"

INTENDED_USE = """\
- One handwritten digit (0-9) per image, as MNIST's are: a crop, a scan or a photo of a digit on
  paper. `mnist-ann predict` prepares each picture as MNIST's digits were made (the ground
  flattened, light ink on black, the ink's box scaled to 20x20 and centred by its mass in 28x28);
  arrays (`.npy`, `.npz`, IDX) are taken as they are, as 784 pixels in [0, 1] of such digits.
- Out of scope: several digits or letters in one picture, digits smaller than a few pixels of
  ink, anything other than a digit (the model always answers 0-9: send the rows it is unsure of,
  `--min-confidence`, to a person), and decisions about people."""


NOTHING_TO_COMPARE = (
    "Nothing to compare with: no other version of this model was registered before it (a registered "
    "version's card compares it with the version holding the `champion` alias, else the one before it)."
)


def render_markdown(facts: CardFacts, baseline: CardFacts | None = None) -> str:
    """The whole card, Markdown with YAML front matter; `baseline`: the model it would replace."""
    parts = [
        "---\n" + yaml.safe_dump(_metadata(facts), sort_keys=False) + "---",
        f"# Model card: {literal(facts.title)}",
        "## What it is\n\n" + _what_it_is(facts),
        "## Intended use\n\n" + INTENDED_USE,
        "## Data\n\n" + _data(facts),
        "## Figures\n\n" + _figures(facts),
        "## Where it fails\n\n" + _failures(facts),
        "## Compared with\n\n" + (comparison(facts, baseline) if baseline else NOTHING_TO_COMPARE),
        "## Lineage\n\n" + _table(["what", "value"], [[name, _shown(v)] for name, v in facts.lineage.items()]),
    ]
    return "\n\n".join(parts) + "\n"


def _metadata(facts: CardFacts) -> dict[str, Any]:
    figures = [("test accuracy", facts.figure("evaluate", "test_accuracy"))]
    robustness = (facts.metrics.get("robustness") or {}).items()
    figures += [(f"robustness {one_line(name)}", value) for name, value in robustness]
    metrics = [{"type": "accuracy", "name": name, "value": v} for name, v in figures if isinstance(v, (int, float))]
    return {
        "library_name": "onnx",
        "tags": ["image-classification", "mnist", "keras", "onnx"],
        "datasets": ["mnist"],
        "model-index": [
            {
                "name": one_line(facts.title),
                "results": [
                    {
                        "task": {"type": "image-classification"},
                        "dataset": {"type": "mnist", "name": "MNIST", "split": "test"},
                        "metrics": metrics,
                    }
                ],
            }
        ],
    }


def _what_it_is(facts: CardFacts) -> str:
    units = facts.params.get("train.hidden_units")
    units = units if isinstance(units, (list, tuple)) and all(isinstance(u, int) for u in units) else None
    activation = facts.params.get("train.activation") or f"activation {NOT_RECORDED}"
    layers = " - ".join(f"Dense {u} ({activation})" for u in units) if units else f"hidden layers {NOT_RECORDED}"
    text = (
        f"A fully connected network on MNIST's 784 pixels: {layers} - Dense 10 (softmax), "
        "exported to ONNX and let through only where onnxruntime gives Keras' answers (the parity gate). "
        "It starts from the seed tutorial's recipe: "
        + ", ".join(f"{n.split('.')[-1]} {_param(v)}" for n, v in seed_recipe())
        + "."
    )
    changed = facts.changed()
    rows = [[f"**{name}**", _param(value), _param(seed)] for name, (seed, value) in changed.items()]
    rows += [[name, _param(value), ""] for name, value in facts.params.items() if name not in changed]
    lead = "Changed from the seed's recipe: " + (", ".join(f"`{n}`" for n in changed) if changed else "none") + "."
    return f"{text}\n\n{lead}\n\n" + _table(["param", "this model", "seed recipe (where changed)"], rows)


def seed_recipe() -> list[tuple[str, object]]:
    """The seed's training params, without the distortions it did not use."""
    return [(name, value) for name, value in SEED_RECIPE.items() if ".augment." not in name]


def _data(facts: CardFacts) -> str:
    rows = [[d["what"], f"`{d['path']}`", _shown(d["md5"]), _shown(d["size"]), _shown(d["files"])] for d in facts.data]
    return (
        "MNIST's handwritten digits (28x28 grey, by LeCun, Cortes and Burges): its training set, and its test set "
        f"({_shown(facts.figure('export', 'images'))} test images scored), as dvc.lock records them:\n\n"
        + _table(["data", "path", "md5", "bytes", "files"], rows)
    )


def _figures(facts: CardFacts) -> str:
    headline = [
        ["test accuracy", _shown(facts.figure("evaluate", "test_accuracy"))],
        ["test loss", _shown(facts.figure("evaluate", "test_loss"))],
        ["ONNX test accuracy", _shown(facts.figure("export", "onnx_test_accuracy"))],
        ["ONNX parity: largest probability difference", _shown(facts.figure("export", "max_abs_diff"))],
        ["ONNX parity: same answer as Keras", _shown(facts.figure("export", "argmax_agreement"))],
        *_int8_rows(facts),
    ]
    precision, recall = facts.per_digit("precision"), facts.per_digit("recall")
    digits = [[d, _shown(precision.get(d)), _shown(recall.get(d))] for d in DIGITS]
    robustness = facts.metrics.get("robustness")
    variants = (
        [[literal(name), _shown(value)] for name, value in robustness.items()]
        if robustness
        else [["all", NOT_RECORDED]]
    )
    parts = [
        _table(["figure", "value"], headline),
        "Per digit, on the test set:\n\n" + _table(["digit", "precision", "recall"], digits),
        "On digits not in MNIST's exact form (the evaluate stage's fixed variants of the test set and its "
        "rendered set; `metrics/robustness.json`):\n\n" + _table(["variant", "accuracy"], variants),
    ]
    if facts.confusion:
        rows = [[f"**{a}**", *map(str, counts)] for a, counts in zip(DIGITS, facts.confusion)]
        parts.append("Confusion matrix (rows: true digit; columns: predicted):\n\n" + _table(["", *DIGITS], rows))
    return "\n\n".join(parts)


def _failures(facts: CardFacts) -> str:
    lines = []
    recall = facts.per_digit("recall")
    if recall:
        weakest = sorted(recall, key=lambda digit: recall[digit])[:WEAKEST]
        lines.append(
            "- Digits it misses most (lowest recall): " + ", ".join(f"{d} ({_shown(recall[d])})" for d in weakest)
        )
    if facts.confusion:
        pairs = sorted(((facts.confusion[a][p], a, p) for a in range(10) for p in range(10) if a != p), reverse=True)
        lines.append(
            "- Most frequent confusions: "
            + ", ".join(f"{a} read as {p} ({n} times)" for n, a, p in pairs[:WEAKEST] if n)
        )
    robustness = {k: v for k, v in (facts.metrics.get("robustness") or {}).items() if k != "mean"}
    if robustness:
        weakest = sorted(robustness, key=lambda variant: robustness[variant])[:WEAKEST]
        lines.append("- Weakest variants: " + ", ".join(f"{literal(v)} ({_shown(robustness[v])})" for v in weakest))
    return "\n".join(lines) or NOT_RECORDED


def _param(value: Any) -> str:
    """A param as params.yaml spells it (0.01, not a figure's 0.0100)."""
    return _shown(value) if value is None or isinstance(value, (list, tuple)) else _shown(str(value))


def _int8_rows(facts: CardFacts) -> list[list[str]]:
    """The int8 model export wrote beside the float one (the version's `int8/model.int8.onnx`), or why
    there is none."""
    written = facts.figure("export", "int8_written")
    if written is None:
        return [["int8 model", NOT_RECORDED]]
    if not written:
        return [["int8 model", "none: its gate refused it (the export's log and `metrics/export.json` say why)"]]
    return [
        ["int8 model (`int8/model.int8.onnx`): same answer as ONNX", _shown(facts.figure("export", "int8_agreement"))],
        ["int8 model: test accuracy", _shown(facts.figure("export", "int8_test_accuracy"))],
    ]


def _shown(value: Any) -> str:
    """A figure as the card prints it: floats to 4 places, lists joined, None as NOT_RECORDED."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value else f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return literal(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
