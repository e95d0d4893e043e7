"""A card's facts as a run stores them (`card_facts.json`, logged beside the card), and the facts of
a run that has no such file (made before cards existed, or whose card was lost), read from the
run's own params, metrics and tags: what the run does not hold is "not recorded", as elsewhere.

Pure data in, facts out: the tracking package fetches the run; nothing here imports MLflow."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import yaml

from ...tracking.tags import (
    CPU,
    DATA_MD5,
    DVC_EXPERIMENT,
    GIT_COMMIT,
    GIT_DIRTY,
    NO_EXPERIMENT,
    NUMERICS,
    PYTHON,
    VERSION_PREFIX,
)
from .facts import METRICS, CardFacts, _figures, _mapping, _text_or_none

FACTS_FILE = "card_facts.json"
CONFUSION_FILE = "confusion_matrix.json"  # the evaluate stage's artifact: [actual][predicted] counts
# metric names the stages log, by the metrics file and figure a card reads them as
RUN_METRICS = {
    "test_accuracy": ("evaluate", "test_accuracy"),
    "test_loss": ("evaluate", "test_loss"),
    "onnx_test_accuracy": ("export", "onnx_test_accuracy"),
    "parity_max_abs_diff": ("export", "max_abs_diff"),
    "parity_argmax_agreement": ("export", "argmax_agreement"),
}
LINEAGE_TAGS = (GIT_COMMIT, GIT_DIRTY, DVC_EXPERIMENT, CPU, NUMERICS, PYTHON)


def facts_json(facts: CardFacts, baseline: CardFacts | None = None) -> str:
    """The facts as the file logged beside the card, from which a later card compares with them,
    and (under "baseline") those of the version it was compared with, so that the card can be
    rendered again whole, by this code, from data."""
    value = {**dataclasses.asdict(facts), "baseline": dataclasses.asdict(baseline) if baseline else None}
    return json.dumps(value, indent=1)  # in the facts' own order: the card's tables follow it


def stored_baseline(text: str | None) -> CardFacts | None:
    """The facts of the version a stored card was compared with, or None (none, or not recorded)."""
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return None
    baseline = value.get("baseline") if isinstance(value, dict) else None
    return stored_facts(json.dumps(baseline)) if isinstance(baseline, dict) else None


def stored_facts(text: str) -> CardFacts | None:
    """The facts of a `card_facts.json`, or None where it is not one; each part is read as the
    workspace's files are, so a tampered file shows as "not recorded", never as a traceback."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("title"), str):
        return None
    metrics = _mapping(value.get("metrics"))
    confusion = value.get("confusion")
    return CardFacts(
        title=value["title"],
        params=_mapping(value.get("params")),
        metrics={name: _figures(metrics[name]) if isinstance(metrics.get(name), dict) else None for name in METRICS},
        data=[_data_record(d) for d in _list(value.get("data")) if isinstance(d, dict)],
        lineage={str(k): _text_or_none(v) for k, v in _mapping(value.get("lineage")).items()},
        confusion=_confusion(confusion),
    )


def run_facts(
    title: str,
    run_id: str,
    *,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    files: Mapping[str, str] = {},
) -> CardFacts:
    """The facts of a run: its stored card facts where it has them, else what its params (MLflow
    keeps them as text: read back as YAML), metrics, tags and confusion-matrix artifact say."""
    stored = stored_facts(files[FACTS_FILE]) if FACTS_FILE in files else None
    if stored is not None:
        return dataclasses.replace(stored, title=title)
    figures: dict[str, dict[str, Any]] = {}
    for metric, (file, name) in RUN_METRICS.items():
        if metric in metrics:
            figures.setdefault(file, {})[name] = metrics[metric]
    for kind in ("precision", "recall"):
        per_digit = {d: metrics[f"{kind}_{d}"] for d in map(str, range(10)) if f"{kind}_{d}" in metrics}
        if per_digit:
            figures.setdefault("evaluate", {})[kind] = per_digit
    robust = {name[len("robust_") :]: v for name, v in metrics.items() if name.startswith("robust_")}
    if robust:
        figures["robustness"] = robust
    try:
        confusion = json.loads(files[CONFUSION_FILE]) if CONFUSION_FILE in files else None
    except ValueError:
        confusion = None
    return CardFacts(
        title=title,
        params={name: _param(text) for name, text in params.items() if name == "seed" or name.startswith("train.")},
        metrics={name: _figures(figures.get(name)) for name in METRICS},
        data=[_data_record({"what": "train and test arrays", "path": "data/processed", "md5": tags.get(DATA_MD5)})],
        lineage=run_lineage(run_id, tags),
        confusion=_confusion(confusion),
    )


def version_facts(record: Any) -> CardFacts:
    """run_facts of a registered version (a tracking.VersionRecord)."""
    parts = {"params": record.params, "metrics": record.metrics, "tags": record.tags, "files": record.files}
    return run_facts(record.title, record.run_id, **parts)


def run_lineage(run_id: str | None, tags: Mapping[str, str]) -> dict[str, str | None]:
    """Where a model came from, as its run's tags (the train stage's provenance) record it."""
    lineage = {"mlflow_run_id": run_id, **{key: tags.get(key) for key in LINEAGE_TAGS}}
    if tags and not lineage[DVC_EXPERIMENT]:  # the train stage tags experiments only
        lineage[DVC_EXPERIMENT] = NO_EXPERIMENT
    lineage.update({key: value for key, value in tags.items() if key.startswith(VERSION_PREFIX)})
    return lineage


def _param(text: str) -> Any:
    """A param as MLflow returns it (text) back as the value params.yaml gave it."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, str, list)) else text


def _data_record(record: dict) -> dict[str, Any]:
    """A data row with the fields the card shows, each text, a number or None."""
    return {key: _text_or_none(record.get(key)) for key in ("what", "path", "md5", "size", "files")}


def _confusion(value: Any) -> list[list[int]] | None:
    """A 10x10 matrix of counts, or None where `value` is not one."""
    if not (isinstance(value, list) and len(value) == 10):
        return None
    rows = [row for row in value if isinstance(row, list) and len(row) == 10]
    if len(rows) != 10 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for r in rows for n in r):
        return None
    return rows


def _list(value: object) -> list:
    """A list read from a stored file as itself; anything else as an empty list."""
    return value if isinstance(value, list) else []
