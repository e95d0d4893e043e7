"""Registering the export's ONNX model as a version: what a version is made from, its model card
files, and the tags and description a user choosing among versions reads (fetching one for
predict: fetch.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tags import DVC_EXPERIMENT, GIT_COMMIT, GIT_DIRTY, NO_EXPERIMENT, VERSION_GIT_COMMIT
from .versions import VersionRecord, card_folder


@dataclass(frozen=True)
class CardRequest:
    """What a new version's card is made from, beyond the pipeline's files: its number, its run
    (id and tags: the lineage the train stage recorded) and the version it would replace."""

    version: str
    run_id: str
    tags: Mapping[str, str]
    baseline: VersionRecord | None


@dataclass(frozen=True)
class OnnxVersion:
    """What the export stage registers: the model, an example input and its output (for the
    signature), the registered model's name, the figures the version carries (test accuracy and
    parity), and the providers to run it on (inference.PROVIDERS: what the parity gate ran)."""

    proto: Any
    examples: tuple[Any, Any]
    registered_model: str
    figures: Mapping[str, float]
    providers: Sequence[str]
    # the version's model card, made once its number is known: {file name: text}
    card: Callable[[CardRequest], Mapping[str, str]] | None = None
    # the promotion gate's decision (tracking/champion.py): its `promotion` tag, and whether the
    # version becomes the champion
    promotion: tuple[str, bool] | None = None
    # the int8 model's file (training/int8.py), logged with the version's model under int8/; None
    # where its gate refused it
    int8: Path | None = None


def log_card(mlflow: Any, version: str, files: Mapping[str, str]) -> list[str]:
    """A version's model card files logged into the active run (each version its own folder: one
    run registers a version each time export runs again); the URIs of its .md and .html."""
    folder = card_folder(version)
    for file, text in files.items():
        mlflow.log_text(text, f"{folder}/{file}")
    return [f"{mlflow.get_artifact_uri()}/{folder}/{file}" for file in files if file.endswith((".md", ".html"))]


def _card_link(uri: str, run: Any) -> str:
    """A card file as a Markdown link to the MLflow UI's view of it (the page renders a version's
    description as Markdown, and a browser follows no file:// link from an http:// page), then its
    URI as text, for the command line."""
    path = uri.removeprefix(f"{run.artifact_uri}/")
    return f"[{path.rsplit('/', 1)[-1]}](#/experiments/{run.experiment_id}/runs/{run.run_id}/artifactPath/{path}) {uri}"


def describe_version(
    client: Any,
    name: str,
    version: str | int,
    *,
    run_id: str,
    figures: Mapping[str, float],
    cards: Sequence[str] = (),
    file_tags: Mapping[str, str] | None = None,
) -> None:
    """Tag a registered version with `figures`, `file_tags` (its model file's sha256) and its
    run's git commit and DVC experiment, and give it a one-line description, so that a user
    choosing among versions sees what each is; it ends with the artifact URIs of the version's
    model card (`cards`), where there is one."""
    tags = client.get_run(run_id).data.tags
    carried = {
        **{key: f"{value:.6g}" for key, value in figures.items()},
        **(file_tags or {}),
        VERSION_GIT_COMMIT: tags.get(GIT_COMMIT, "unknown"),
        GIT_DIRTY: tags.get(GIT_DIRTY, "unknown"),
        DVC_EXPERIMENT: tags.get(DVC_EXPERIMENT) or NO_EXPERIMENT,
        "run_id": run_id,
    }
    for key, value in carried.items():
        client.set_model_version_tag(name, str(version), key, value)
    run = client.get_run(run_id).info
    description = (
        f"test accuracy {figures['test_accuracy']:.4f}; parity max |diff| {figures['parity_max_abs_diff']:.2g}, "
        f"argmax agreement {figures['parity_argmax_agreement']:.4f}; commit {carried['git.commit'][:12]}"
        f"{' (dirty)' if carried['git.dirty'] == 'true' else ''}; experiment {carried['dvc.experiment']}"
        + "".join(f"; model card: {_card_link(uri, run)}" for uri in cards)
    )
    client.update_model_version(name, str(version), description=description)
