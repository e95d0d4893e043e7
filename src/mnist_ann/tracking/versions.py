"""Registered versions as the model card reads them: a version named by its URI
(`models:/mnist-ann/3`, `models:/mnist-ann@champion`), the version a new one would replace, and
what a version's run records (params, metrics, tags, its card's files)."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ModelError
from .bounds import FETCH_SECONDS, bounded_wait, deadline, not_found_or_failed
from .lookup import run_of_model
from .store import MLFLOW_DEFAULTS, tracking_uri

CARD_FOLDER = "model_card"  # the run's artifact folder of its versions' cards: model_card/version-<N>/
CHAMPION = "champion"  # the alias of the version users are told to trust
CONFUSION_ARTIFACT = "confusion_matrix.json"  # the evaluate stage's
MAX_FILE_BYTES = 16 * 1024 * 1024  # a card's file is tens of KB; anything larger is not one
VERSION_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))/?")


@dataclass(frozen=True)
class VersionRecord:
    """A registered version's run as a card reads it. `files`: the texts of its card's files and
    the run's confusion matrix, by file name, where the run holds them."""

    title: str  # "mnist-ann version 3"
    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)
    version_tags: dict[str, str] = field(default_factory=dict)  # the version's own (`promotion`)
    version: str = ""  # its number


def card_folder(version: str | int) -> str:
    return f"{CARD_FOLDER}/version-{version}"


def open_store(uri: str, root: Path) -> Any:
    """mlflow, pointed at the pipeline's store; ModelError in one line where there is none."""
    database = root / "mlflow.db"
    if not os.environ.get("MLFLOW_TRACKING_URI") and not (database.is_file() and database.stat().st_size > 0):
        # MLflow would create a store here (write its whole schema into an empty file) to find nothing in it.
        state = "an empty file, not an MLflow store" if database.is_file() else "no MLflow store"
        raise ModelError(f"{uri}: {state} at {database} (run from the repository, or set MLFLOW_TRACKING_URI)")
    for name, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    import mlflow

    store = tracking_uri(root)
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    return mlflow


def version_record(uri: str, root: Path, command: str = "card") -> VersionRecord:
    """The version `uri` names; ModelError in one line (beginning with `command`) for a URI that
    names none, or a dead store."""
    match = VERSION_URI.fullmatch(uri)
    if not match:
        raise ModelError(
            f"{command}: {uri}: name a registered version, models:/<name>/<version> or models:/<name>@<alias>"
        )
    mlflow = open_store(uri, root)
    client, name = mlflow.MlflowClient(), match["name"]
    try:
        with bounded_wait(tracking_uri(root), deadline(FETCH_SECONDS)):
            found = (
                client.get_model_version(name, match["version"])
                if match["version"]
                else client.get_model_version_by_alias(name, match["alias"])
            )
            return run_record(client, found)
    except Exception as exc:  # MlflowException for unknown names; requests' or SQLAlchemy's for a dead store
        raise ModelError(f"{command}: {not_found_or_failed(uri, tracking_uri(root), exc)}") from None


def training_run(root: Path, model_sha256: str) -> tuple[str, dict[str, str]] | None:
    """(id, tags) of the run that trained the model file with this sha256, in the pipeline's store
    at `root` (any experiment); None where there is no store, no such run, or the store fails (the
    card then says where its lineage came from)."""
    try:
        mlflow = open_store("models/model.keras", root)
    except ModelError:
        return None
    try:
        with bounded_wait(tracking_uri(root), deadline(FETCH_SECONDS)):
            experiments = [e.experiment_id for e in mlflow.MlflowClient().search_experiments()]
            run = run_of_model(mlflow, experiments, model_sha256) if experiments else None
    except Exception:
        return None
    return None if run is None else (run.info.run_id, dict(run.data.tags))


def baseline_record(client: Any, name: str, version: str) -> VersionRecord | None:
    """The version that `version` would replace: the one holding the champion alias, else the
    newest one before it; None for the first version."""
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # MLflow raises for an alias no version holds
        champion = None
    if champion is None or str(champion.version) == str(version):
        earlier = [v for v in client.search_model_versions(f"name='{name}'") if int(v.version) < int(version)]
        champion = max(earlier, key=lambda v: int(v.version), default=None)
    return None if champion is None else run_record(client, champion)


def run_record(client: Any, found: Any) -> VersionRecord:
    """What a registered version (MLflow's ModelVersion) carries: its run's params, metrics and
    tags, the texts of its card's files and the run's confusion matrix (where the run holds them),
    and its own tags."""
    name, version, run_id = found.name, found.version, found.run_id
    run = client.get_run(run_id)
    folder = card_folder(version)
    # every file of the version's card folder (whatever the card package logged), by its name
    wanted = {a.path: a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, folder) if not a.is_dir}
    if any(a.path == CONFUSION_ARTIFACT for a in client.list_artifacts(run_id)):
        wanted[CONFUSION_ARTIFACT] = CONFUSION_ARTIFACT
    files = {}
    with tempfile.TemporaryDirectory(prefix="card-") as scratch:
        for path, file in sorted(wanted.items()):
            local = Path(client.download_artifacts(run_id, path, scratch))
            if local.is_file() and local.stat().st_size <= MAX_FILE_BYTES:
                files[file] = local.read_text(encoding="utf-8", errors="replace")
    return VersionRecord(
        title=f"{name} version {version}",
        run_id=run_id,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        files=files,
        version_tags=dict(found.tags),
        version=str(version),
    )
