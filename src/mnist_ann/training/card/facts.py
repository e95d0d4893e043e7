"""What a model card says, gathered from the files the pipeline wrote. Each figure is read, never
retyped: a file that is missing or lacks a figure leaves it None, which the card shows as
NOT_RECORDED (a run restored from elsewhere, a version made before the figure existed)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...core.files import unreadable_reason

NOT_RECORDED = "not recorded"
# A workspace file larger than these is not the pipeline's (dvc.lock, params and metrics files are
# a few KB; test_predictions.csv ~100 KB for the 10k test images): read as not recorded, unread.
# The guard before each read (files.unreadable_reason) also passes over a FIFO or a blocking file
# of /proc linked into the workspace, which hung the card.
MAX_TEXT_BYTES = 1 << 20
MAX_PREDICTIONS_BYTES = 64 << 20

# The seed tutorial's recipe (../shared/seed): what every other experiment is compared with, so
# that a card lists the params an experiment changed first. params.yaml's defaults are this recipe
# (tests/test_card.py checks that they still are).
SEED_RECIPE: dict[str, Any] = {
    "train.hidden_units": [256, 128, 64, 32],
    "train.activation": "relu",
    "train.optimizer": "adam",
    "train.learning_rate": 0.01,
    "train.lr_schedule": "constant",
    "train.loss": "categorical_crossentropy",
    "train.batch_size": 128,
    "train.epochs": 5,
    "train.augment.rotation": 0,
    "train.augment.scale": 0,
    "train.augment.shear": 0,
    "train.augment.shift": 0,
    "train.augment.stroke": 0,
    "train.augment.blur": 0,
    "train.augment.noise": 0,
}

# The data the model was trained and tested on: dvc.lock's record of each, by stage and path.
DATA = {
    ("download", "data/raw/mnist.npz"): "MNIST as downloaded",
    ("preprocess", "data/processed"): "train and test arrays",
}
METRICS = ("train", "evaluate", "robustness", "export")  # metrics/<name>.json


@dataclass(frozen=True)
class CardFacts:
    """Everything a card shows. `params`: flat (`train.epochs`) as the run used them; `metrics`:
    each metrics file's figures by its name (None: the file was not there)."""

    title: str  # e.g. "mnist-ann version 3", or "mnist-ann (workspace)"
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any] | None]
    data: list[dict[str, Any]]  # {"what", "path", "md5", "size", "files"} from dvc.lock
    lineage: Mapping[str, str | int | float | None] = field(default_factory=dict)
    confusion: list[list[int]] | None = None  # [actual][predicted] counts on the test set

    def figure(self, metrics: str, name: str) -> Any:
        """One figure of one metrics file, or None where it was not recorded."""
        return (self.metrics.get(metrics) or {}).get(name)

    def per_digit(self, name: str) -> dict[str, float]:
        """evaluate.json's `precision` or `recall`, by digit; empty where not recorded."""
        value = self.figure("evaluate", name)
        return value if isinstance(value, dict) else {}

    def changed(self) -> dict[str, tuple[Any, Any]]:
        """The params that differ from the seed's recipe: name -> (seed's value, this model's)."""
        here = {name: list(v) if isinstance(v, tuple) else v for name, v in self.params.items()}
        return {name: (seed, here[name]) for name, seed in SEED_RECIPE.items() if name in here and here[name] != seed}


def workspace_facts(
    root: str | Path = ".",
    lineage: Mapping[str, str | int | float | None] | None = None,
    title: str = "mnist-ann (workspace)",
    params: dict[str, Any] | None = None,
) -> CardFacts:
    """The facts of the workspace's pipeline outputs: the params and data that dvc.lock records
    (what the stages ran with, not what params.yaml says now) and metrics/*.json. `params`, flat,
    where the caller knows them better than dvc.lock (the export stage, which DVC may run before
    it records the train stage)."""
    root = Path(root)
    stages = _mapping(_mapping(_read_yaml(root / "dvc.lock")).get("stages"))
    if params is None:
        params = dotted_names(_mapping(_mapping(_mapping(stages.get("train")).get("params")).get("params.yaml")))
    metrics = {name: _figures(_read_json(root / "metrics" / f"{name}.json")) for name in METRICS}
    return CardFacts(
        title=title,
        params=params,
        metrics=metrics,
        data=data_records(stages),
        lineage=dict(lineage or {}),
        confusion=confusion_counts(root / "metrics" / "test_predictions.csv"),
    )


def confusion_counts(path: Path) -> list[list[int]] | None:
    """The confusion matrix counted from the evaluate stage's per-image predictions (actual,
    predicted), or None where the file is missing or not that file."""
    import csv

    counts = [[0] * 10 for _ in range(10)]
    if unreadable_reason(path, MAX_PREDICTIONS_BYTES):
        return None
    try:
        with path.open(newline="", encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                actual, predicted = int(row["actual"]), int(row["predicted"])
                if not (0 <= actual < 10 and 0 <= predicted < 10):
                    return None  # not the evaluate stage's file: no matrix rather than a wrong one
                counts[actual][predicted] += 1
    except (OSError, UnicodeDecodeError, KeyError, ValueError, IndexError, TypeError, csv.Error):
        return None  # csv.Error: a field over the csv module's 128 KB limit, a NUL byte
    return counts if any(map(any, counts)) else None


def data_records(stages: dict[str, Any]) -> list[dict[str, Any]]:
    """The data's hashes, sizes and file counts as dvc.lock records them (None where it does not)."""
    records = []
    for (stage, path), what in DATA.items():
        outs = _mapping(stages.get(stage)).get("outs")
        out = (
            next((o for o in outs if isinstance(o, dict) and o.get("path") == path), {})
            if isinstance(outs, list)
            else {}
        )
        records.append(
            {"what": what, "path": path, "md5": out.get("md5"), "size": out.get("size"), "files": out.get("nfiles")}
        )
    return records


def _mapping(value: Any) -> dict:
    """`value` if it is a mapping, else an empty one: a file the pipeline did not write as it does
    is read as far as it makes sense, never trusted to have the pipeline's shape."""
    return value if isinstance(value, dict) else {}


def _figures(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """A metrics file's figures that are numbers (or, as precision and recall are, mappings of
    numbers); anything else in it is dropped, and so shows as not recorded."""
    if values is None:
        return None
    kept = {}
    for name, value in values.items():
        if _is_number(value):
            kept[name] = value
        elif isinstance(value, dict):
            kept[name] = {key: v for key, v in value.items() if _is_number(v)}
    return kept


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text_or_none(value: Any) -> str | int | float | None:
    """A text or number read from a stored file as itself; anything else (a list, a mapping) as None."""
    return value if isinstance(value, str) or _is_number(value) else None


def dotted_names(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dvc.lock and `dvc exp show` hold them, by dotted name: {"train": {"epochs": 5}}
    -> {"train.epochs": 5}; lists stay lists."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(dotted_names(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _text(path: Path) -> str | None:
    """A workspace file's text, or None where it is missing, not a regular file, over MAX_TEXT_BYTES
    or not UTF-8."""
    if unreadable_reason(path, MAX_TEXT_BYTES):
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _read_yaml(path: Path) -> Any:
    text = _text(path)
    try:
        return None if text is None else yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):  # nesting thousands deep; a 5,000-digit integer
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    text = _text(path)
    try:
        value = None if text is None else json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
