"""The champion of a registered model: the version users are told to trust (the `champion` alias),
fetched to be compared with a new version, and the gate's decision recorded on each version (its
`promotion` tag, and the alias moved when it is promoted). What the gate decides is
training/promotion.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bounds import FETCH_SECONDS, bounded_wait, deadline
from .fetch import fetch_onnx_model
from .store import tracking_uri
from .versions import CHAMPION, open_store

PROMOTION = "promotion"  # the version's tag: `promoted: <why, in figures>` or `refused: ...`


def current_champion(name: str, root: Path, folder: Path) -> tuple[str, Path] | None:
    """(version, its ONNX file fetched into `folder`) of the version of `name` that holds the
    champion alias; None when no version does (an empty registry, or none promoted yet)."""
    mlflow = open_store(f"models:/{name}@{CHAMPION}", root)
    with bounded_wait(tracking_uri(root), deadline(FETCH_SECONDS)):
        version = _champion(mlflow.MlflowClient(), name)
    if version is None:
        return None
    return version, fetch_onnx_model(f"models:/{name}/{version}", root, folder)


def _champion(client: Any, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception as exc:  # MLflow raises for an alias no version holds, and for an unknown model
        if "not found" in str(exc).lower() or getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def record_in_store(name: str, version: str, decision: tuple[str, bool], root: Path) -> None:
    """record_promotion in the pipeline's store at `root` (`mnist-ann promote`)."""
    mlflow = open_store(f"models:/{name}/{version}", root)
    with bounded_wait(tracking_uri(root), deadline(FETCH_SECONDS)):
        record_promotion(mlflow.MlflowClient(), name, version, decision)


def record_promotion(client: Any, name: str, version: str, decision: tuple[str, bool]) -> None:
    """Tag version `version` with the gate's decision (its tag, promoted or not); make it the
    champion if promoted."""
    tag, promoted = decision
    client.set_model_version_tag(name, version, PROMOTION, tag)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
