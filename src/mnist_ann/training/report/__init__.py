"""`mnist-ann compare A B --output report.md|.html`: two models side by side, for a pull request or
a review. A and B are registered versions (models:/NAME/N, models:/NAME@ALIAS) or a workspace's
pipeline outputs (a folder).

  sides    each model: its ONNX file, what its run (or workspace) recorded, its promotion tag
  figures  the rows: measured now on the same pictures (paired, with intervals), and as recorded
  page     the report as Markdown (html.py of the card package makes the self-contained page)

Both models are measured here, on the workspace's test split and the robustness variants made from
it, exactly as the promotion gate measures them (evaluation/paired.py), and the gate's decision is
shown as if B were the candidate and A the champion.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ...core.files import write_text
from ...core.onnx_model import OnnxModel
from ..card.output import card_suffix
from ..evaluation.paired import measure
from ..promotion import Rules
from .figures import report_of
from .page import render
from .sides import COMMAND, open_side


def write_report(a: str, b: str, output: str | Path, *, root: Path, rules: Rules, data: Path) -> None:
    """The report comparing `b` with `a` to `output` (.md or .html), on the test split in `data`
    (the preprocess stage's folder), under the gate's `rules`."""
    from ..card.html import render_html
    from ..data import load_split
    from ..evaluation.robustness import as_digits, variant_sets
    from ..provenance import machine_description

    html = card_suffix(output, COMMAND) == ".html"  # a wrong suffix fails before anything is fetched
    pixels, labels = load_split(data, "test")
    with tempfile.TemporaryDirectory(prefix="compare-") as folder:
        side_a, side_b = open_side(a, root, Path(folder) / "a"), open_side(b, root, Path(folder) / "b")
        sets = variant_sets(as_digits(pixels), labels)
        measured_a = measure(OnnxModel(side_a.model).predict, pixels, labels, sets)
        measured_b = measure(OnnxModel(side_b.model).predict, pixels, labels, sets)
    where = {"test_images": f"the test split in {data} ({len(labels):,} images)", "machine": machine_description()}
    report = report_of((side_a, side_b), (measured_a, measured_b), rules, **where)
    markdown = render(report)
    write_text(output, render_html(markdown) if html else markdown)
