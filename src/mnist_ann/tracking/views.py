"""The runs table's saved view, and the address of the page that opens it.

MLflow 3.17's runs table shows no metric, param or tag column until someone picks them under
*Columns*, and that pick lives in one browser's storage: a new user sees run names and dates. The one
column choice a server holds is a *saved view*: an experiment tag `mlflow.sharedViewState.<id>`
whose value names the view and carries the table's state. The UI lists it under *Views* and opens it
from `#/experiments/<experiment>/runs?viewStateShareKey=<id>`. Every stage that finds the experiment
writes this project's view (what each run changed, then its figures), unless the tag already holds
the same columns; the user's own views have other ids and are not touched.

The envelope and the state's fields are MLflow's UI's (savedViewEnvelope.ts and
ExperimentPageUIState.tsx in MLflow's source): the UI, not the tracking API, reads them.
"""

from __future__ import annotations

import json
import time
from typing import Any

VIEW_ID = "mnist-ann"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_ID}"
VIEW_NAME = "mnist-ann: changes and figures"
# MLflow 3.17's UI opens in its GenAI view unless the address says otherwise (see stage.py)
MODEL_TRAINING_VIEW = "workflowType=machine_learning"


def _column(kind: str, name: str) -> str:
    """A column's id in the UI's state: its kind and its name in backquotes."""
    return f"{kind}.`{name}`"


# In the table's order: what the run changed, then what it measured, then the params most changed
COLUMNS = (
    _column("tags", "params.changed"),
    _column("metrics", "test_accuracy"),
    _column("metrics", "onnx_test_accuracy"),
    _column("metrics", "parity_max_abs_diff"),
    _column("metrics", "robust_mean"),
    _column("metrics", "int8_test_accuracy"),
    _column("metrics", "fit_seconds"),
    _column("params", "train.epochs"),
    _column("params", "train.learning_rate"),
    _column("params", "train.hidden_units"),
    _column("attributes", "Models"),
)
# Pixels: wide enough for the column's name and a figure's digits (the UI's default cuts both)
WIDTHS = {_column("tags", "params.changed"): 220, _column("metrics", "parity_max_abs_diff"): 150}
DEFAULT_WIDTH = 140


def view_state() -> dict[str, Any]:
    """The table's state as the UI stores it: which columns, in which order, how wide."""
    return {
        "selectedColumns": list(COLUMNS),
        "columnOrder": list(COLUMNS),
        "columnWidths": {column: WIDTHS.get(column, DEFAULT_WIDTH) for column in COLUMNS},
    }


def view_tag_value(created_ms: int) -> str:
    """The tag's value: MLflow's saved-view envelope, with the state as plain JSON (the UI reads it
    compressed or not)."""
    return json.dumps({"name": VIEW_NAME, "createdAt": created_ms, "state": json.dumps(view_state())})


def holds_this_view(value: str | None) -> bool:
    """Whether a tag's value already holds this project's view (its name and createdAt aside)."""
    try:
        return json.loads(json.loads(value or "")["state"]) == view_state()
    except (ValueError, KeyError, TypeError):
        return False


def write_runs_view(client: Any, experiment: Any) -> None:
    """Tag `experiment` with this project's saved view, unless it holds it already."""
    if not holds_this_view(experiment.tags.get(VIEW_TAG)):
        client.set_experiment_tag(experiment.experiment_id, VIEW_TAG, view_tag_value(int(time.time() * 1000)))


def ui_address(base: str, tracking_uri: str, experiment_name: str) -> str:
    """The address to open for `experiment_name` in the UI at `base` serving `tracking_uri`: the
    experiment's runs table in this project's view (written first where a store from before the view
    lacks it), or the list of experiments where there is no such experiment; always in the
    model-training view."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return f"{base}/#/experiments?{MODEL_TRAINING_VIEW}"
    write_runs_view(client, experiment)
    return f"{base}/#/experiments/{experiment.experiment_id}/runs?viewStateShareKey={VIEW_ID}&{MODEL_TRAINING_VIEW}"
