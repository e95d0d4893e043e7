"""Where a stage's run goes: whether tracking is on, which store (by URI), and the run-id file that
carries the pipeline's run from the train stage to the stages after it."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

# MLflow's defaults (7 retries, 120 s timeout, exponential backoff) keep a stage waiting for many
# minutes on a dead server. These bound one call to about 11 s (two 5 s attempts, 1 s apart); set
# the variables to override.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
# What every use of the store sets unless the user did: those limits, and no progress bar for each
# artifact downloaded (a card reads a few), which would fill stderr, meant for the command's errors.
MLFLOW_DEFAULTS = {**HTTP_LIMITS, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def tracking_enabled() -> bool:
    """False when MNIST_ANN_TRACKING is off/0/false: stages then run without recording anything."""
    return os.environ.get("MNIST_ANN_TRACKING", "on").strip().lower() not in ("off", "0", "false", "no")


def repo_root() -> Path:
    """The main repository: DVC_ROOT when DVC runs the stage (`dvc exp run --temp/--queue` runs it in
    a copy under .dvc/tmp/exps, but DVC_ROOT still names the main repo), else the current folder."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


# Where MLflow's SQLite schema keeps absolute locations: the experiment's artifact root, each run's
# and each logged model's artifact folder, each model version's files.
_LOCATION_COLUMNS = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "logged_models": ("artifact_location",),
    "model_versions": ("source", "storage_location"),
}


def relocate_copied_store(root: Path) -> Path | None:
    """The repository's own store (`root`/mlflow.db) keeps absolute artifact locations, so a copy of
    the repository (`cp -a A B`) or a moved one would go on writing into A/mlartifacts. When the
    store's experiments are anchored at another folder's mlartifacts/, rewrite every location inside
    that folder to the same place inside `root`, in this store only; return the old folder (None
    when nothing was rewritten). The artifacts copied along stay readable; nothing is written into
    the other folder."""
    database = root / "mlflow.db"
    if not database.is_file():
        return None
    with contextlib.closing(sqlite3.connect(database, timeout=60)) as connection, connection:
        connection.execute("BEGIN IMMEDIATE")  # one stage relocates; parallel ones see it done
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:  # a new store: MLflow creates its tables next
            return None
        anchors = [row[0] for row in connection.execute("SELECT artifact_location FROM experiments")]
        ours = (root / "mlartifacts").as_uri()
        others = [a for a in anchors if a.startswith("file:///") and a.endswith("/mlartifacts") and a != ours]
        if not others:
            return None
        old_root = Path(unquote(urlparse(others[0]).path)).parent
        prefixes = [(old_root.as_uri() + "/", root.as_uri() + "/"), (f"{old_root}/", f"{root}/")]
        for table, columns in _LOCATION_COLUMNS.items():
            for column in columns if table in tables else ():
                for rowid, value in connection.execute(f"SELECT rowid, {column} FROM {table}").fetchall():
                    moved = _moved(value, prefixes)
                    if moved != value:
                        connection.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (moved, rowid))
    return old_root


def _moved(value: str | None, prefixes: list[tuple[str, str]]) -> str | None:
    for old, new in prefixes:
        if value and value.startswith(old):
            return new + value[len(old) :]
    return value
