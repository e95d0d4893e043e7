"""The two models a comparison report puts side by side, each a Side: a registered version (what
its run recorded, its ONNX file fetched and checked, its `promotion` tag) or the pipeline outputs
of a workspace (dvc.lock and metrics/*.json, models/model.onnx)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import ModelError
from ..card import CardFacts, version_facts, workspace_facts

COMMAND = "compare"
WORKSPACE_MODEL = Path("models") / "model.onnx"  # the export stage's output


@dataclass(frozen=True)
class Side:
    """One model of the two: how the user named it, what its run or workspace recorded, its ONNX file."""

    name: str  # "models:/mnist-ann@champion (version 3)", "workspace ."
    facts: CardFacts
    model: Path
    promotion: str | None  # the version's `promotion` tag; None for a workspace or a version without one


def open_side(spec: str, root: Path, folder: Path) -> Side:
    """The model `spec` names (models:/NAME/N, models:/NAME@ALIAS, or a workspace folder); a
    registered version's ONNX file is fetched into `folder`. ModelError in one line for a name that
    is neither, an unknown version, or a workspace without the export stage's model."""
    if re.match(r"[a-z]+:/", spec):
        return _registered(spec, root, folder)
    workspace = Path(spec)
    if not (workspace / "dvc.lock").is_file():
        raise ModelError(f"{COMMAND}: {spec}: neither a models:/ URI nor a pipeline workspace (no dvc.lock in it)")
    model = workspace / WORKSPACE_MODEL
    if not model.is_file():
        raise ModelError(f"{COMMAND}: {spec}: no {WORKSPACE_MODEL} in the workspace (run `make repro`)")
    from ..card.output import workspace_lineage

    name = "the workspace" if workspace.resolve() == Path.cwd().resolve() else f"the workspace {spec}"
    return Side(name, workspace_facts(workspace, workspace_lineage(workspace), title=name), model, None)


def _registered(uri: str, root: Path, folder: Path) -> Side:
    from ...tracking import version_record
    from ...tracking.champion import PROMOTION
    from ...tracking.fetch import fetch_onnx_model

    record = version_record(uri, root, COMMAND)  # checks the URI's form first
    name = uri.removeprefix("models:/").split("/")[0].split("@")[0]
    # by number, so that the file is the version read above even if an alias moves meanwhile
    model = fetch_onnx_model(f"models:/{name}/{record.version}", root, folder)
    shown = uri if uri.endswith(f"/{record.version}") else f"{uri} (version {record.version})"
    return Side(shown, version_facts(record), model, record.version_tags.get(PROMOTION))
