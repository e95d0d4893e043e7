"""tracked_stage: one stage's part of the pipeline's MLflow run, started or reopened, and ended with
the stage's outcome."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import TrackingError
from ..processes import process_alive
from .runs import TrackedRun, UntrackedRun
from .store import HTTP_LIMITS, repo_root, tracking_enabled, tracking_uri

log = logging.getLogger("mnist_ann.tracking")


@contextlib.contextmanager
def tracked_stage(
    experiment_name: str, *, run_id: str | None = None, run_name: str | None = None, root: Path | None = None
) -> Iterator[TrackedRun]:
    """One stage's part of the pipeline's run: start a new run in `experiment_name` (run_id None) or
    reopen run `run_id`, in the store of the repository at `root` (default: repo_root()); end it
    FINISHED, FAILED or KILLED with the stage. A run id that the store does not know (a model pulled
    from a DVC remote whose run lives in someone else's store) starts a new run, tagged with the old
    id."""
    if not tracking_enabled():
        log.warning("MLflow tracking is off (MNIST_ANN_TRACKING): nothing of this stage is recorded")
        yield UntrackedRun()
        return
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    import mlflow

    root = root or repo_root()
    uri = tracking_uri(root)
    try:
        mlflow.set_tracking_uri(uri)
        experiment_id = _experiment_id(mlflow, experiment_name, root, uri)
        _end_runs_of_dead_stages(mlflow, experiment_id)
        tags = _owner()
        if run_id is not None and not _run_exists(mlflow, run_id):
            log.warning("MLflow run %s is not in %s; starting a new run", run_id, uri)
            tags, run_id = {**tags, "mnist_ann.continues_run": run_id}, None
        active = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=run_name, tags=tags)
        if run_id is not None:
            mlflow.set_tags(tags)  # start_run ignores tags when it reopens a run
    except Exception as exc:  # MlflowException, requests' errors, SQLAlchemy's: all mean "no store"
        raise TrackingError(f"MLflow tracking at {uri} is unavailable: {_first_line(exc)}") from None
    log.info("MLflow run %s in experiment %r at %s", active.info.run_id, experiment_name, uri)
    try:
        yield TrackedRun(mlflow, active.info.run_id)
    except KeyboardInterrupt:
        _end(mlflow, "KILLED")
        raise
    except BaseException:
        _end(mlflow, "FAILED")
        raise
    _end(mlflow, "FINISHED")


def _experiment_id(mlflow: Any, name: str, root: Path, uri: str) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # Anchor a local store's artifacts at the repo root too, whatever folder the stage runs in.
    location = (root / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another stage (a parallel queued experiment) created it first.
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _owner() -> dict[str, str]:
    """Which process holds the run open, so that a later stage can tell when it died."""
    return {"mnist_ann.host": socket.gethostname(), "mnist_ann.pid": str(os.getpid())}


def _end_runs_of_dead_stages(mlflow: Any, experiment_id: str) -> None:
    """A stage killed outright (SIGKILL, OOM killer, power loss) cannot end its run, which would
    stay RUNNING forever; the next stage marks such runs KILLED. Only runs held by a process of this
    machine that no longer exists are touched: parallel experiments keep theirs."""
    client = mlflow.MlflowClient()
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=200):
        tags = run.data.tags
        pid = tags.get("mnist_ann.pid", "")
        if tags.get("mnist_ann.host") == host and pid.isdigit() and not process_alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            log.warning("MLflow run %s was left RUNNING by a stage that died; marked KILLED", run.info.run_id)


def _run_exists(mlflow: Any, run_id: str) -> bool:
    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def _end(mlflow: Any, status: str) -> None:
    try:
        mlflow.end_run(status)
    except Exception as exc:  # never let a failing store hide the stage's own error
        log.error("could not mark the MLflow run %s: %s", status, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
