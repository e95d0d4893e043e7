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
LINEAGE = ("mlflow.source.git.commit", "git.dirty", "cpu", "numerics", "python")


def write_workspace_card(workspace: str | Path, output: str | Path) -> None:
    """The card of the pipeline outputs in `workspace` (a folder with a dvc.lock) to `output`."""
    workspace, output = Path(workspace), Path(output)
    if output.suffix.lower() not in SUFFIXES:
        raise OutputError(f"card: {output}: the output must end in .md or .html")
    if not (workspace / "dvc.lock").is_file():
        raise ModelError(f"card: {workspace}: not a pipeline workspace (no dvc.lock in it)")
    from ..provenance import provenance_tags

    now = provenance_tags(workspace)
    lineage = {key: now.get(key) for key in LINEAGE}
    lineage.update({key: value for key, value in now.items() if key.startswith("version.")})
    card = render_markdown(workspace_facts(workspace, lineage))
    if output.suffix.lower() == ".html":
        images = {}
        for caption, path in WORKSPACE_IMAGES.items():
            if (workspace / path).is_file():
                images[caption] = (workspace / path).read_bytes()
        card = render_html(card, images)
    write_text(output, card)
