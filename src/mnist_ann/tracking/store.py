"""Where a stage's run goes: whether tracking is on, which store (by URI), and the run-id file that
carries the pipeline's run from the train stage to the stages after it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import write_json
from ..errors import TrackingError

# MLflow's defaults (7 retries, 120 s timeout, exponential backoff) keep a stage waiting for many
# minutes on a dead server. These bound one call to about 11 s (two 5 s attempts, 1 s apart); set
# the variables to override.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def tracking_enabled() -> bool:
    """False when MNIST_ANN_TRACKING is off/0/false: stages then run without recording anything."""
    return os.environ.get("MNIST_ANN_TRACKING", "on").strip().lower() not in ("off", "0", "false", "no")


def repo_root() -> Path:
    """The main repository: DVC_ROOT when DVC runs the stage (`dvc exp run --temp/--queue` runs it in
    a copy under .dvc/tmp/exps, but DVC_ROOT still names the main repo), else the current folder."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


def write_run_file(path: str | Path, run_id: str | None, experiment_name: str) -> None:
    """Record which run the pipeline's later stages log into (None when tracking is off)."""
    write_json(path, {"run_id": run_id, "experiment": experiment_name})


def read_run_file(path: str | Path) -> str | None:
    """The run id that write_run_file recorded; TrackingError naming the file if it is unreadable."""
    try:
        run_id = json.loads(Path(path).read_text(encoding="utf-8"))["run_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TrackingError(f"{path}: not a run-id file written by the train stage ({type(exc).__name__})") from None
    if not (run_id is None or isinstance(run_id, str)):
        raise TrackingError(f"{path}: run_id must be a string or null")
    return run_id
