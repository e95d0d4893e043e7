"""Batches scored with a registered model, recorded in MLflow (issue 39): one run per batch in the
experiment BATCH_EXPERIMENT, tagged with the version that scored it (found by the ONNX file's
sha256, which export tags each version with), its summary's figures as metrics. The UI then shows
a version's batches over time. Recording never fails the scoring: a store that cannot be reached
or written costs one warning line."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from ..core.errors import first_line
from .bounds import WRITE_SECONDS, bounded_wait, deadline
from .fetch import ONNX_INT8_SHA256, ONNX_SHA256
from .stage import find_experiment
from .store import tracking_uri
from .versions import VERSION_URI, open_store

BATCH_EXPERIMENT = "mnist-ann-batches"
MODEL_NAME, MODEL_VERSION = "mnist_ann.model_name", "mnist_ann.model_version"  # a batch run's tags
log = logging.getLogger("mnist-ann")


def record_batch(uri: str, summary: dict[str, Any], root: Path) -> str | None:
    """Record the batch that `uri`'s model scored (its summary) as a run; its id, or None (said in
    one warning line) where the store fails."""
    match = VERSION_URI.fullmatch(uri)
    if match is None or not summary.get("images"):
        return None
    store = tracking_uri(root)
    try:
        mlflow = open_store(uri, root)
        with bounded_wait(store, deadline(WRITE_SECONDS)):
            client = mlflow.MlflowClient()
            version = _scoring_version(client, match["name"], summary["model"]["sha256"])
            experiment = find_experiment(mlflow, BATCH_EXPERIMENT, root, store)
            tags = {MODEL_NAME: match["name"], MODEL_VERSION: version, "mlflow.note.content": _note(uri, version)}
            run = client.create_run(experiment, tags=tags, run_name=f"{match['name']} v{version}: {summary['images']}")
            client.log_batch(run.info.run_id, metrics=_metrics(summary))
            client.set_terminated(run.info.run_id)
            return run.info.run_id
    except Exception as exc:  # whatever the store raises: the predictions are written already
        log.warning("the batch was not recorded in MLflow (%s): %s", store, first_line(exc))
        return None


def batch_runs(client: Any, name: str, version: str) -> list[Any]:
    """The batch runs of version `version` of `name`, oldest first."""
    experiment = client.get_experiment_by_name(BATCH_EXPERIMENT)
    if experiment is None:
        return []
    found = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{MODEL_NAME}` = '{name}' and tags.`{MODEL_VERSION}` = '{version}'",
        order_by=["attributes.start_time ASC"],
    )
    return list(found)


def _scoring_version(client: Any, name: str, sha256: str) -> str:
    """The version of `name` whose ONNX file (or int8 model) has this sha256 (an alias may have moved
    since the fetch)."""
    for version in client.search_model_versions(f"name='{name}'"):
        if sha256 in (version.tags.get(ONNX_SHA256), version.tags.get(ONNX_INT8_SHA256)):
            return str(version.version)
    raise LookupError(f"no version of {name} has the ONNX file that scored the batch (sha256 {sha256[:12]}...)")


def _metrics(summary: dict[str, Any]) -> list[Any]:
    from mlflow.entities import Metric

    drift = summary.get("drift") or {}
    figures = {"images": summary["images"], "estimated_accuracy": summary.get("estimated_accuracy")}
    figures.update({"drift_score": drift.get("score"), "drift_threshold": drift.get("threshold")})
    figures["drift_alarm"] = float(bool(drift.get("alarm"))) if drift else None
    counts = summary.get("predicted_counts") or {}
    figures.update({f"share_{d}": n / summary["images"] for d, n in counts.items() if re.fullmatch(r"\d", d)})
    now = int(time.time() * 1000)
    return [Metric(key, float(value), now, 0) for key, value in figures.items() if value is not None]


def _note(uri: str, version: str) -> str:
    return f"A batch scored with {uri} (version {version}); its summary's figures are this run's metrics."
