"""A card written to a file: Markdown or HTML by the file's suffix, renamed into place whole."""

from __future__ import annotations

from pathlib import Path

from ..atomic import write_text
from ..errors import ModelError, OutputError
from .facts import workspace_facts
from .html import render_html
from .markdown import render_markdown

SUFFIXES = (".md", ".html")
# The pipeline's figures as images, by the caption the HTML card gives them.
WORKSPACE_IMAGES = {
    "Confusion matrix on the test set": "plots/evaluate/confusion_matrix.png",
    "Sample predictions (mistakes in red)": "plots/evaluate/predictions.png",
    "Accuracy per epoch": "plots/train/accuracy.png",
    "Loss per epoch": "plots/train/loss.png",
}
LINEAGE = ("mlflow.source.git.commit", "git.dirty", "dvc.experiment", "cpu", "numerics", "python")


def write_workspace_card(workspace: str | Path, output: str | Path) -> None:
    """The card of the pipeline outputs in `workspace` (a folder with a dvc.lock) to `output`."""
    workspace, output = Path(workspace), Path(output)
    if output.suffix.lower() not in SUFFIXES:
        raise OutputError(f"card: {output}: the output must end in .md or .html")
    if not (workspace / "dvc.lock").is_file():
        raise ModelError(f"card: {workspace}: not a pipeline workspace (no dvc.lock in it)")
    files = card_files(workspace)
    write_text(output, files["model_card.html" if output.suffix.lower() == ".html" else "model_card.md"])


def card_files(
    workspace: str | Path, title: str = "mnist-ann (workspace)", params: dict | None = None, **lineage: str | None
) -> dict[str, str]:
    """The card of the pipeline outputs in `workspace` as {"model_card.md": ..., "model_card.html": ...};
    `params` (flat) as workspace_facts takes them; `lineage` adds to what the workspace's git and
    libraries say (the run id, the version)."""
    from ..provenance import provenance_tags

    workspace = Path(workspace)
    now = provenance_tags(workspace)
    known = {key: now.get(key) for key in LINEAGE}
    known.update({key: value for key, value in now.items() if key.startswith("version.")})
    markdown = render_markdown(workspace_facts(workspace, {**known, **lineage}, title, params))
    images = {
        caption: (workspace / path).read_bytes()
        for caption, path in WORKSPACE_IMAGES.items()
        if (workspace / path).is_file()
    }
    return {"model_card.md": markdown, "model_card.html": render_html(markdown, images)}
