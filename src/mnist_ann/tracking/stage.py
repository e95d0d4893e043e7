"""tracked_stage: one stage's part of the pipeline's MLflow run, started or reopened, and ended with
the stage's outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..core.errors import TrackingError, first_line
from .bounds import START_SECONDS, bounded_wait, deadline, store_problem, store_write
from .lookup import end_runs_of_dead_stages, existing_run, owner_tags, run_of_model
from .runs import TrackedRun, UntrackedRun
from .store import MLFLOW_DEFAULTS, relocate_copied_store, repo_root, tracking_enabled, tracking_uri
from .tags import MODEL_SHA256, completed
from .views import write_runs_view

log = logging.getLogger("mnist_ann.tracking")


@contextlib.contextmanager
def tracked_stage(
    experiment_name: str,
    *,
    stage: str | None = None,
    run_id: str | None = None,
    model_sha256: str | None = None,
    run_name: str | None = None,
    root: Path | None = None,
    restore: Callable[[TrackedRun], None] | None = None,
) -> Iterator[TrackedRun]:
    """One stage's part of the pipeline's run: start a new run in `experiment_name`, or reopen run
    `run_id`, or the run that trained the model file whose sha256 is `model_sha256` (evaluate and
    export), in the store of the repository at `root` (default: repo_root()); end it FINISHED,
    FAILED or KILLED with the stage, and tag it `mnist_ann.completed.<stage>` when the stage
    succeeds. A model no run of this store trained: see _reopen; `restore` fills the run restored
    for it.

    A FINISHED run that this stage already completed keeps FINISHED whatever happens to the stage
    now (see _reopen): everything was logged by the earlier pass, and DVC may well restore the
    stage from its run cache without running it again."""
    if not tracking_enabled():
        log.warning("MLflow tracking is off (MNIST_ANN_TRACKING): nothing of this stage is recorded")
        yield UntrackedRun()
        return
    explicit_uri, explicit_registry = os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI")
    try:
        which = _Which(stage, run_id, model_sha256, run_name)
        mlflow, run, amend = _start(
            experiment_name, which, root=root or repo_root(), explicit_uri=explicit_uri, restore=restore
        )
        try:
            yield run
        except KeyboardInterrupt:
            _end(mlflow, "FINISHED" if amend else "KILLED")
            raise
        except BaseException:
            _end(mlflow, "FINISHED" if amend else "FAILED")
            raise
        if stage:
            run.set_tags({completed(stage): "true"})
        _end(mlflow, "FINISHED" if run.failure is None or amend else "FAILED")  # FAILED: its record is not whole
        run.report_losses()
    finally:
        # mlflow.set_tracking_uri and set_registry_uri set MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI
        # too, which would tie every later stage in this process (a test session runs many), and every
        # command it starts, to this store: a version was registered in another test's store.
        if explicit_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = explicit_uri
        _forget_registry_uri(explicit_registry)


# MLflow 3.17's UI opens an experiment in its GenAI view (traces, "No data") unless this tag names
# another kind; the UI writes an `_inferred` kind of its own guess. One the user chose is kept.
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


@dataclasses.dataclass(frozen=True)
class _Which:
    """Which run a stage logs into: a new one (named `run_name`), `run_id`, or the run that trained
    the model `model_sha256`."""

    stage: str | None
    run_id: str | None = None
    model_sha256: str | None = None
    run_name: str | None = None


def _start(experiment_name, which: _Which, *, root: Path, explicit_uri: str | None, restore):
    """Open the store and start or reopen the run: (mlflow, the TrackedRun, amend: see _reopen)."""
    for name, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    import mlflow

    # MLflow logs a failing SQLite call with its traceback before raising; the error reaches the
    # stage, which says it in one line.
    logging.getLogger("mlflow.store.db.utils").addFilter(_without_database_errors)
    uri = tracking_uri(root)
    amend, seconds = False, deadline(START_SECONDS)
    try:
        with bounded_wait(uri, seconds):  # a server that drips its answers must not hold the stage
            if explicit_uri is None:  # the repository's own store
                _relocate(root)
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)  # versions go to this store
            experiment_id = find_experiment(mlflow, experiment_name, root, uri)
            end_runs_of_dead_stages(mlflow, experiment_id)
            reopened = _reopen(mlflow, experiment_id, which, uri)
            active, amend, restored = reopened
        run = TrackedRun(mlflow, active.info.run_id, which.stage)
        if restored and restore is not None:
            restore(run)  # its logging is guarded like the stage's own
    except KeyboardInterrupt:  # between start_run and here: the run must not stay RUNNING
        if mlflow.active_run():
            _end(mlflow, "FINISHED" if amend else "KILLED")
        raise
    except Exception as exc:  # MlflowException, requests' errors, SQLAlchemy's: all mean "no store"
        raise TrackingError(f"MLflow tracking at {uri} is unavailable: {store_problem(exc)}") from None
    log.info("MLflow run %s in experiment %r at %s", active.info.run_id, experiment_name, uri)
    return mlflow, run, amend


def _forget_registry_uri(explicit: str | None) -> None:
    """Put the registry back as it was before the stage: the user's MLFLOW_REGISTRY_URI, else none
    (MLflow then takes the tracking store's)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    if explicit is None:
        mlflow.set_registry_uri(None)  # the module's own setting; the variable is MLflow's too
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    else:
        mlflow.set_registry_uri(explicit)


def _without_database_errors(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("SQLAlchemy database error")


def _reopen(mlflow: Any, experiment_id: str, which: _Which, uri: str):
    """Start the run (or reopen `run_id`, or the run that trained the model `model_sha256`: `which`); return
    it, whether this is an amending pass, and whether the run was started now to restore a record.

    A model that no run of this store trained (train's outputs restored from a DVC cache or remote
    shared with another store, or trained with tracking off) stands for a run made elsewhere: the
    stage logs into a run that restores its record here, tagged with the model's sha256, which the
    first such stage starts and fills (the `restore` of tracked_stage); the stages after it find
    it by that tag, so one pipeline execution stays one run in every store.

    An amending pass is a rerun of a stage that already completed in a FINISHED run (`dvc repro
    --force`, deleted outputs): it keeps the run FINISHED from the start, so that a Ctrl-C, SIGTERM
    or SIGKILL now cannot leave it KILLED or RUNNING while DVC restores the stage from its run cache."""
    stage, run_id, model_sha256 = which.stage, which.run_id, which.model_sha256
    tags, restored = owner_tags(), False
    if model_sha256 is not None:
        earlier = run_of_model(mlflow, [experiment_id], model_sha256)
        if earlier is None:
            log.warning(
                "no MLflow run in %s trained this model (sha256 %s): starting a run that restores its record "
                "here (the model came from a DVC cache or remote, or was trained with tracking off)",
                uri,
                model_sha256[:12],
            )
            tags, restored = {**tags, MODEL_SHA256: model_sha256}, True
        else:
            run_id = earlier.info.run_id
    else:
        earlier = existing_run(mlflow, run_id)
        if run_id is not None and earlier is None:
            raise TrackingError(f"MLflow run {run_id} is not in {uri}")
    amend = bool(
        stage
        and earlier is not None
        and earlier.info.status == "FINISHED"
        and earlier.data.tags.get(completed(stage)) == "true"
    )
    active = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=which.run_name, tags=tags)
    if amend:
        mlflow.MlflowClient().set_terminated(run_id, "FINISHED", end_time=earlier.info.end_time)
        log.info("stage %s already completed in run %s: the run stays FINISHED while it runs again", stage, run_id)
    if run_id is not None:
        mlflow.set_tags(tags)  # start_run ignores tags when it reopens a run
    return active, amend, restored


def _relocate(root: Path) -> None:
    old_root = relocate_copied_store(root)
    if old_root is not None:
        log.warning(
            "%s was copied or moved from %s: its artifact locations now point into %s, so nothing is written there",
            root / "mlflow.db",
            old_root,
            root,
        )


def find_experiment(mlflow: Any, name: str, root: Path, uri: str) -> str:
    """The id of experiment `name`, created (artifacts under `root`, the model-training kind) where
    new, with this project's saved view of its runs table (views.py)."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        # Anchor a local store's artifacts at the repo root too, whatever folder the stage runs in.
        location = (root / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
        # Another stage (a parallel queued experiment) may create it first.
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            mlflow.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING})
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise TrackingError(f"experiment {name!r} could be neither created nor found")
    kind = experiment.tags.get(EXPERIMENT_KIND, "")
    if kind in ("", "no_inferred_type") or kind.endswith("_inferred"):
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    write_runs_view(mlflow.MlflowClient(), experiment)
    return experiment.experiment_id


def _end(mlflow: Any, status: str) -> None:
    try:
        with store_write(mlflow):
            mlflow.end_run(status)
    except Exception as exc:  # never let a failing store hide the stage's own error
        log.error("could not mark the MLflow run %s: %s", status, first_line(exc))
