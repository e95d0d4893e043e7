"""The one door to MLflow: every other module stays free of tracking, and importing this one does
nothing (mlflow itself is imported when a run starts).

One MLflow run per pipeline execution: the train stage starts it, evaluate and export reopen it by
id. The run ends FINISHED when the stage succeeds, FAILED when it raises, KILLED on Ctrl-C.

Where runs go: $MLFLOW_TRACKING_URI, else a SQLite store `mlflow.db` at the repository root, with
artifacts in `mlartifacts/` beside it. A tracking server that does not answer fails the stage
before any training, after about 11 s of waiting, with one line (see HTTP_LIMITS).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

from .atomic import process_alive
from .errors import MnistAnnError

log = logging.getLogger(__name__)

# MLflow's defaults (7 retries, 120 s timeout, exponential backoff) keep a stage waiting for many
# minutes on a dead server. These bound one call to about 11 s (two 5 s attempts, 1 s apart); set
# the variables to override.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


class TrackingError(MnistAnnError):
    """The tracking store cannot be reached or refuses the run."""


def tracking_enabled() -> bool:
    """False when MNIST_ANN_TRACKING is off/0/false: stages then run without recording anything."""
    return os.environ.get("MNIST_ANN_TRACKING", "on").strip().lower() not in ("off", "0", "false", "no")


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


class Run:
    """The MLflow run a stage logs into."""

    def __init__(self, mlflow: Any, run_id: str):
        self._mlflow = mlflow
        self.run_id = run_id

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._mlflow.set_tags(dict(tags))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Values that are not numbers or strings are logged as JSON (lists, the download sources)."""
        plain = {k: v if isinstance(v, (int, float, str)) else json.dumps(v) for k, v in params.items()}
        self._mlflow.log_params(plain)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._mlflow.log_artifact(str(path), artifact_path=folder)

    def log_text(self, text: str, file: str) -> None:
        self._mlflow.log_text(text, file)

    def log_keras_model(self, model: Any, input_example: Any) -> None:
        """The Keras model with its signature (inferred from `input_example` and its predictions)
        and pinned requirements (given, so MLflow does not spend seconds inferring them)."""
        import mlflow.tensorflow
        from mlflow.models import infer_signature

        signature = infer_signature(input_example, model.predict(input_example, verbose=0))
        mlflow.tensorflow.log_model(
            model, name="model", signature=signature, input_example=input_example,
            pip_requirements=_pins("tensorflow-cpu", "keras", "numpy"),
        )


    def log_onnx_model(self, proto: Any, input_example: Any, output_example: Any, registered_model: str) -> None:
        """The ONNX model, run on the CPU provider, with signature and input example, registered
        as a new version of `registered_model`. Saved inline: with external data, MLflow would
        rewrite the caller's proto."""
        import mlflow.onnx
        from mlflow.models import infer_signature

        mlflow.onnx.log_model(
            proto, name="onnx_model", signature=infer_signature(input_example, output_example),
            input_example=input_example, onnx_execution_providers=["CPUExecutionProvider"],
            save_as_external_data=False, registered_model_name=registered_model,
            pip_requirements=_pins("onnxruntime", "onnx", "numpy"),
        )


class NoRun(Run):
    """Stands in for a run when tracking is off: every call does nothing."""

    def __init__(self):
        super().__init__(None, None)

    def set_tags(self, tags): pass
    def log_params(self, params): pass
    def log_metrics(self, metrics, step=None): pass
    def log_artifact(self, path, folder=None): pass
    def log_text(self, text, file): pass
    def log_keras_model(self, model, input_example): pass
    def log_onnx_model(self, proto, input_example, output_example, registered_model): pass


def _pins(*packages: str) -> list[str]:
    pins = []
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{package}=={metadata.version(package)}")
    return pins


@contextlib.contextmanager
def pipeline_run(experiment_name: str, root: Path, run_id: str | None = None, run_name: str | None = None) -> Iterator[Run]:
    """Start a new run in `experiment_name` (run_id None) or reopen run `run_id`; end it FINISHED,
    FAILED or KILLED with the stage. A run id that the store does not know (a model pulled from a
    DVC remote whose run lives in someone else's store) starts a new run, tagged with the old id."""
    if not tracking_enabled():
        log.warning("MLflow tracking is off (MNIST_ANN_TRACKING): nothing of this stage is recorded")
        yield NoRun()
        return
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    import mlflow

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
        yield Run(mlflow, active.info.run_id)
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
