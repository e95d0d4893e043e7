"""Finding runs in the store: a run by id, the run restored from one made in another store, and runs
left RUNNING by stages that died."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from ..core.files import process_alive
from .tags import OWNER_HOST, OWNER_PID, RESTORED_FROM

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


def run_restored_from(mlflow: Any, experiment_id: str, run_id: str) -> Any:
    """This store's run that a stage started to restore `run_id` (made in another store), or None."""
    if not run_id.isalnum():  # MLflow's ids are hex; anything else cannot be quoted into the filter
        return None
    found = mlflow.MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{RESTORED_FROM}` = '{run_id}'",
        max_results=1,
        order_by=["start_time ASC"],
    )
    return found[0] if found else None
