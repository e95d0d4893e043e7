"""One MLflow run per pipeline execution, in every tracking store: the name of that run, and the
record a stage after train restores when train's outputs came from a DVC cache or remote shared with
another store (DVC's run cache, `dvc pull`), whose run this store does not have."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from pathlib import Path

from ..core.files import unreadable_reason
from ..tracking import TrackedRun
from ..tracking.tags import NOTE, PARAMS_CHANGED, RESTORED
from .params import Params, changed_params, flatten
from .provenance import committed_text, provenance_tags, run_label


def run_name(params: Params, params_file: str | Path) -> str:
    """The DVC experiment's name under `dvc exp run`; else the commit and what differs from it."""
    here = Path.cwd()
    return os.environ.get("DVC_EXP_NAME") or run_label(here, changed_params(params, committed_text(here, params_file)))


def change_tags(params: Params, params_file: str | Path) -> dict[str, str]:
    """What a run changed, where the runs table and the run page show it: the params that differ
    from the committed params.yaml with their new values (`train.epochs=2`, also under `dvc exp
    run -S`, whose run is named after the experiment), as a tag and as the run's description."""
    here = Path.cwd()
    changed = changed_params(params, committed_text(here, params_file))
    listed = ", ".join(f"{name}={value}" for name, value in changed.items()) or "none"
    commit = run_label(here, {}).split(" ", 1)[0]
    return {PARAMS_CHANGED: listed[:5000], NOTE: f"params changed from {commit}: {listed}"}


def train_record(params: Params, params_file: str | Path, history: str | Path) -> Callable[[TrackedRun], None]:
    """What the train stage logged that its outputs can restore: its run's name, params, provenance
    tags, and the per-epoch metrics of its history file (metrics/train_history.csv). Models and
    figures stay in the store that made them. Nothing is read, nor git asked, unless a run is
    restored."""

    def restore(run: TrackedRun) -> None:
        run.set_tags(
            {
                **provenance_tags(),
                **change_tags(params, params_file),
                "mlflow.runName": run_name(params, params_file),  # MLflow renames the run by this tag
                RESTORED: "train's outputs were restored by DVC (run cache or remote), not trained here; "
                "this run restores its params, tags and per-epoch metrics",
            }
        )
        run.log_params(flatten(params))
        for row in history_rows(history):
            run.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    return restore


MAX_EPOCH = 10**6  # past any run's epochs, within MLflow's step range
MAX_HISTORY_BYTES = 16 << 20


def history_rows(path: str | Path) -> list[dict[str, float]]:
    """The train stage's per-epoch rows ({"epoch": 1.0, "loss": ...}) from its history CSV, each with
    an epoch from 1 to MAX_EPOCH and only its finite numbers (an epoch without validation has empty
    val_ cells); none when the file is missing or not that file."""
    if unreadable_reason(path, MAX_HISTORY_BYTES):
        return []
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as lines:
            for row in csv.DictReader(lines):
                numbers = {key: _number(value) for key, value in row.items() if isinstance(key, str)}
                epoch = numbers.get("epoch")
                if epoch is None or not (epoch.is_integer() and 1 <= epoch <= MAX_EPOCH):
                    return []
                rows.append({key: value for key, value in numbers.items() if value is not None})
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return rows


def _number(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]  # anything else is not a number: None
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
