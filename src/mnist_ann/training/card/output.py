"""A card written to a file: Markdown or HTML by the file's suffix, renamed into place whole; and
the files of a version's card as the export stage logs them."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...core.errors import ModelError, OutputError
from ...core.files import check_replaceable, file_sha256, unreadable_reason, write_text
from .facts import CardFacts, workspace_facts
from .html import render_html
from .markdown import render_markdown
from .stored import FACTS_FILE, facts_json, run_lineage, stored_baseline, version_facts

SUFFIXES = (".md", ".html")
CARD_FILES = {".md": "model_card.md", ".html": "model_card.html"}  # by the output's suffix
# The pipeline's figures as images, by the caption the HTML card gives them.
WORKSPACE_IMAGES = {
    "Most confident mistakes on the test set": "plots/evaluate/mistakes.png",
    "Confusion matrix on the test set": "plots/evaluate/confusion_matrix.png",
    "Sample predictions (mistakes in red)": "plots/evaluate/predictions.png",
    "Accuracy per epoch": "plots/train/accuracy.png",
    "Loss per epoch": "plots/train/loss.png",
}


def card_suffix(output: str | Path, command: str = "card") -> str:
    """`.md` or `.html`: the kind of page (a card, `command`'s report) `output` names; OutputError
    for anything else, and for an output that must not be replaced (a symbolic link, a folder, a
    device: files.check_replaceable)."""
    suffix = Path(output).suffix.lower()
    if suffix not in SUFFIXES:
        raise OutputError(f"{command}: {output}: the output must end in .md or .html")
    check_replaceable(output)
    return suffix


def write_workspace_card(workspace: str | Path, output: str | Path) -> None:
    """The card of the pipeline outputs in `workspace` (a folder with a dvc.lock) to `output`."""
    workspace, suffix = Path(workspace), card_suffix(output)
    if not (workspace / "dvc.lock").is_file():
        raise ModelError(f"card: {workspace}: not a pipeline workspace (no dvc.lock in it)")
    markdown = render_markdown(workspace_facts(workspace, workspace_lineage(workspace)))
    write_text(output, render_html(markdown, workspace_images(workspace)) if suffix == ".html" else markdown)


def workspace_lineage(workspace: Path) -> dict[str, str | None]:
    """Where the workspace's model came from: the tags of the run that trained it (found by the
    sha256 of models/model.keras), else, said so, what git and this machine say now."""
    from ...tracking.versions import training_run
    from ..provenance import provenance_tags

    model = workspace / "models" / "model.keras"
    found = training_run(workspace, file_sha256(model)) if model.is_file() else None
    if found is not None:
        return run_lineage(*found)
    lineage = run_lineage(None, provenance_tags(workspace))
    lineage["mlflow_run_id"] = (
        "none (no run of this store trained models/model.keras): the lineage is the workspace's now"
    )
    return lineage


def write_card(files: Mapping[str, str], output: str | Path) -> None:
    """A card's file (card_files' or a run's) of `output`'s kind, written to `output`."""
    write_text(output, files[CARD_FILES[card_suffix(output)]])


def version_card_files(record: Any) -> dict[str, str]:
    """The card of a registered version (a tracking.VersionRecord), rendered here from data, never
    copied: the facts its run logged (card_facts.json, with the version it was compared with) or,
    without them, what its run records; the logged page gives only its PNG images, each checked.
    A store's own page was written out as it was, `<script>` and outside images included."""
    facts = version_facts(record)
    markdown = render_markdown(facts, stored_baseline(record.files.get(FACTS_FILE)))
    images = stored_images(record.files.get(CARD_FILES[".html"], ""))
    return {CARD_FILES[".md"]: markdown, CARD_FILES[".html"]: render_html(markdown, images)}


_EMBEDDED = re.compile(r'<img alt="([^"<>]{0,200})" src="data:image/png;base64,([A-Za-z0-9+/=]{1,30000000})">')


def stored_images(page: str) -> dict[str, bytes]:
    """The PNG images that render_html embedded in a logged page, by caption; anything else on the
    page (scripts, outside images, a fake image) is left behind."""
    images = {}
    for caption, encoded in _EMBEDDED.findall(page):
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError:
            continue
        if _is_png(data):
            images[html.unescape(caption)] = data
    return images


def card_files(facts: CardFacts, workspace: str | Path = ".", baseline: CardFacts | None = None) -> dict[str, str]:
    """A version's card as the run keeps it: Markdown, HTML (with the images of `workspace`'s
    plots) and the facts themselves (card_facts.json), from which a later version's card compares."""
    markdown = render_markdown(facts, baseline)
    return {
        CARD_FILES[".md"]: markdown,
        CARD_FILES[".html"]: render_html(markdown, workspace_images(Path(workspace))),
        FACTS_FILE: facts_json(facts, baseline),
    }


def workspace_images(workspace: Path) -> dict[str, bytes]:
    """The plots the pipeline drew in `workspace`, by caption; one that is missing or not a PNG
    image is left out (a plot linked to a credentials file was embedded in the card a user shares)."""
    images = {caption: _png(workspace / path) for caption, path in WORKSPACE_IMAGES.items()}
    return {caption: data for caption, data in images.items() if data is not None}


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PLOT_BYTES = 16 << 20  # the pipeline's plots are 20-120 KB


def _png(path: Path) -> bytes | None:
    """`path`'s bytes if it is a PNG image Pillow reads, else None (unread if not a regular file or
    over MAX_PLOT_BYTES)."""

    if unreadable_reason(path, MAX_PLOT_BYTES):
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if _is_png(data) else None


def _is_png(data: bytes) -> bool:
    """Whether `data` is a PNG image that Pillow reads."""
    import io

    from PIL import Image, UnidentifiedImageError

    if not data.startswith(PNG_SIGNATURE):
        return False
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False
    return True
