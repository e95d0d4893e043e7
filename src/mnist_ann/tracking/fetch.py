"""A registered model's ONNX file fetched for `mnist-ann predict --model models:/... | runs:/...`.

Nothing the store names is trusted: the URI is checked before the store is asked (no `..`), the
folder the store names for the model is checked before anything is copied (a server's models come
through its artifact service, never as a file of this machine; a SQLite store's lie inside its
experiment's artifact folder), and the file's bytes are checked against the sha256 that export
recorded when it registered the version.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..core.errors import ModelError
from ..core.onnx_model import INT8_NAME
from .bounds import FETCH_SECONDS, bounded_wait, deadline, not_found_or_failed
from .store import tracking_uri
from .versions import VERSION_URI, open_store

ONNX_SHA256 = "onnx.sha256"  # the tag, on a version and on its logged model, of model.onnx's sha256
ONNX_INT8_SHA256 = "onnx.int8.sha256"  # the same of its int8 model, where export wrote one
INT8_FOLDER = "int8"  # where a version's int8 model lies among its model's files
_RUN_URI = re.compile(r"runs:/(?P<run_id>[0-9A-Za-z]+)/(?P<path>[\w./-]+)")
_URI_FORMS = "models:/<name>/<version>, models:/<name>@<alias> or runs:/<run id>/<path in the run>"
log = logging.getLogger("mnist_ann.tracking")


@dataclass(frozen=True)
class ModelSource:
    """Where the store says a model's files are, the run that made it, and the sha256 recorded."""

    location: str
    run_id: str | None
    sha256: str | None
    int8_sha256: str | None = None


def onnx_sha256(proto: Any) -> str:
    """What export records: the model file's bytes are the proto's serialization (saved inline)."""
    return hashlib.sha256(proto.SerializeToString()).hexdigest()


def fetch_onnx_model(uri: str, root: Path, destination: Path, *, int8: bool = False) -> Path:
    """Download the ONNX model `uri` names into the folder `destination` and return its file (with
    `int8`, its int8 model's); ModelError in one line for a URI of another form, an unknown name,
    version, alias or run, a location outside the store, a model without an .onnx file (or without
    an int8 model), or one that is not the file registered."""
    if not (VERSION_URI.fullmatch(uri) or _safe_run_uri(uri)):
        raise ModelError(f"{uri}: not a model URI this command reads: {_URI_FORMS}, without '.' or '..' parts")
    mlflow, store = open_store(uri, root), tracking_uri(root)
    try:
        with bounded_wait(store, deadline(FETCH_SECONDS)):
            client = mlflow.MlflowClient()
            source = model_source(client, uri)
            location = checked_location(client, uri, source, store)
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(destination)))
    except ModelError:
        raise
    except Exception as exc:  # MlflowException for unknown names; requests' or SQLAlchemy's for a dead store
        raise ModelError(not_found_or_failed(uri, store, exc)) from None
    if int8:
        model = local / INT8_FOLDER / INT8_NAME if local.is_dir() else local
        if not model.is_file() or model.name != INT8_NAME:
            raise ModelError(
                f"{uri}: has no int8 model (its export's int8 gate refused one, or it was registered before "
                "export wrote them): score it without --int8"
            )
        _verify(uri, model, source.int8_sha256)
        return model
    model = _onnx_file(uri, local)
    _verify(uri, model, source.sha256)
    return model


def _safe_run_uri(uri: str) -> bool:
    match = _RUN_URI.fullmatch(uri)
    return match is not None and all(part not in ("", ".", "..") for part in match["path"].rstrip("/").split("/"))


def model_source(client: Any, uri: str) -> ModelSource:
    """Where the store keeps the files of the model `uri` names (a URI fetch_onnx_model checked)."""
    version_uri = VERSION_URI.fullmatch(uri)
    if version_uri:
        name = version_uri["name"]
        found = (
            client.get_model_version(name, version_uri["version"])
            if version_uri["version"]
            else client.get_model_version_by_alias(name, version_uri["alias"])
        )
        location = client.get_model_version_download_uri(name, found.version)
        return ModelSource(location, found.run_id, found.tags.get(ONNX_SHA256), found.tags.get(ONNX_INT8_SHA256))
    run_uri = _RUN_URI.fullmatch(uri)
    assert run_uri is not None  # fetch_onnx_model checked the URI
    run_id, path = run_uri["run_id"], run_uri["path"].rstrip("/")
    run = client.get_run(run_id)
    name, _, inside = path.partition("/")
    # MLflow 3 keeps a run's models as logged models: runs:/<run>/onnx_model is the newest of that name
    named = client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string=f"name = '{name}'")
    logged = [model for model in named if model.source_run_id == run_id]
    if logged:
        newest = max(logged, key=lambda model: model.creation_timestamp)
        tags = newest.tags
        location = _joined(newest.artifact_location, inside)
        return ModelSource(location, run_id, tags.get(ONNX_SHA256), tags.get(ONNX_INT8_SHA256))
    return ModelSource(_joined(run.info.artifact_uri, path), run_id, None)


def _joined(location: str, inside: str) -> str:
    return f"{location.rstrip('/')}/{inside}" if inside else location


def checked_location(client: Any, uri: str, source: ModelSource, store: str) -> str:
    """`source`'s location, where it may be read from: a file of this machine only for a SQLite
    store, and then inside the artifact folder of the experiment of the model's run."""
    parsed = urlparse(source.location)
    if parsed.scheme not in ("", "file"):
        return source.location  # the store's own artifact service (mlflow-artifacts:, s3:, ...)
    if not store.startswith("sqlite:"):
        raise ModelError(
            f"{uri}: the store at {store} names a file of this machine as the model's location "
            f"({source.location}): refused, a server's models come through its artifact service"
        )
    if source.run_id is None:
        raise ModelError(f"{uri}: the version names no run, so where its files may lie cannot be checked: refused")
    experiment = client.get_experiment(client.get_run(source.run_id).info.experiment_id)
    folder = Path(unquote(urlparse(experiment.artifact_location).path)).resolve()
    path = Path(unquote(parsed.path)).resolve()
    if not path.is_relative_to(folder):
        raise ModelError(
            f"{uri}: the store names {path} as the model's location, outside its artifact folder {folder}: refused"
        )
    return path.as_uri()


def _onnx_file(uri: str, local: Path) -> Path:
    if local.is_file() and local.suffix == ".onnx":
        return local
    models = sorted(local.rglob("*.onnx")) if local.is_dir() else []
    named = [model for model in models if model.name == "model.onnx"]  # the ONNX flavour's own name
    if not models:
        raise ModelError(f"{uri}: holds no .onnx file (is it the pipeline's ONNX model?)")
    if len(models) > 1 and len(named) != 1:
        raise ModelError(f"{uri}: holds {len(models)} .onnx files and none of them is the ONNX flavour's model.onnx")
    return (named or models)[0]


def _verify(uri: str, model: Path, recorded: str | None) -> None:
    """The file must be the one registered: its sha256 equal to the recorded one."""
    if recorded is None:
        log.warning(
            "%s: no sha256 of its model file was recorded (registered before export recorded one, or by hand): "
            "the file is not verified",
            uri,
        )
        return
    digest = hashlib.sha256()
    with open(model, "rb") as file:
        for piece in iter(lambda: file.read(1 << 20), b""):
            digest.update(piece)
    if digest.hexdigest() != recorded.strip().lower():
        raise ModelError(
            f"{uri}: {model.name} is not the file registered (its sha256 is {digest.hexdigest()[:16]}..., the "
            f"version records {recorded[:16]}...): refused, the file was replaced after registration"
        )
