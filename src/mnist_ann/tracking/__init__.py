"""The one door to MLflow: every other module stays free of tracking, and importing this package
does nothing (mlflow itself is imported when a run starts).

One MLflow run per pipeline execution: the train stage starts it and tags it with the sha256 of the
model file it wrote; evaluate and export find the run by that tag and reopen it (nothing
machine-specific, such as a run id, is a pipeline output). Each stage's part ends the run
FINISHED when the stage succeeds, FAILED when it raises, KILLED on Ctrl-C.

Where runs go: $MLFLOW_TRACKING_URI, else a SQLite store `mlflow.db` at the repository root, with
artifacts in `mlartifacts/` beside it. A tracking server that does not answer fails the stage
before any training, after about 11 s of waiting, with one line (see HTTP_LIMITS).
"""

from __future__ import annotations

from .registry import CardRequest
from .runs import OnnxVersion, TrackedRun, UntrackedRun
from .stage import tracked_stage
from .store import (
    HTTP_LIMITS,
    repo_root,
    tracking_enabled,
    tracking_uri,
)
from .versions import VersionRecord, version_record

__all__ = [
    "HTTP_LIMITS",
    "CardRequest",
    "OnnxVersion",
    "TrackedRun",
    "UntrackedRun",
    "VersionRecord",
    "repo_root",
    "tracked_stage",
    "tracking_enabled",
    "tracking_uri",
    "version_record",
]
