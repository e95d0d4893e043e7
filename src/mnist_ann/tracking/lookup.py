"""Finding runs in the store: a run by id, the run that trained a model file (by its sha256), and
runs left RUNNING by stages that died."""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any

from ..core.files import process_alive
from .tags import DVC_EXPERIMENT, MODEL_SHA256, OWNER_HOST, OWNER_PID

log = logging.getLogger("mnist_ann.tracking")


def owner_tags() -> dict[str, str]:
    """Which process holds the run open, so that a later stage can tell when it died."""
    return {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid())}


def end_runs_of_dead_stages(mlflow: Any, experiment_id: str) -> None:
    """A stage killed outright (SIGKILL, OOM killer, power loss) cannot end its run, which would
    stay RUNNING forever; the next stage marks such runs KILLED. Only runs held by a process of this
    machine that no longer exists are touched: parallel experiments keep theirs."""
    client = mlflow.MlflowClient()
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=200):
        tags = run.data.tags
        pid = tags.get(OWNER_PID, "")
        if tags.get(OWNER_HOST) == host and pid.isdigit() and not process_alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            log.warning("MLflow run %s was left RUNNING by a stage that died; marked KILLED", run.info.run_id)


def existing_run(mlflow: Any, run_id: str | None) -> Any:
    """The run `run_id` of this store, or None (no id, or a run this store does not have)."""
    if run_id is None:
        return None
    try:
        return mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def run_of_model(mlflow: Any, experiment_ids: list[str], model_sha256: str) -> Any:
    """The run that trained the model file whose sha256 this is (or restored its record), or None.
    Of several (the same bits trained twice: the numerics are pinned), the one of this DVC
    experiment (a queued experiment's evaluate must log into its own run), else the latest."""
    if not re.fullmatch(r"[0-9a-f]{64}", model_sha256):  # quoted into the filter below
        return None
    found = mlflow.MlflowClient().search_runs(
        experiment_ids,
        filter_string=f"tags.`{MODEL_SHA256}` = '{model_sha256}'",
        max_results=100,
        order_by=["attributes.start_time DESC"],
    )
    experiment = os.environ.get("DVC_EXP_NAME")
    same_experiment = [run for run in found if experiment and run.data.tags.get(DVC_EXPERIMENT) == experiment]
    return (same_experiment or found or [None])[0]
