"""plots.py: each figure is written as a PNG, the same figure as the same bytes (so DVC sees no
change when nothing changed), and epochs that were not validated are left out of the curves."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import REPO, font_digits
from mnist_ann.training.plots import plot_confusion, plot_curves, plot_predictions

EPOCHS = [
    {"epoch": 1, "accuracy": 0.80, "loss": 0.6, "val_accuracy": None, "val_loss": None},
    {"epoch": 2, "accuracy": 0.90, "loss": 0.3, "val_accuracy": 0.88, "val_loss": 0.35},
    {"epoch": 3, "accuracy": 0.95, "loss": 0.2, "val_accuracy": None, "val_loss": None},
]


def test_figures_are_reproducible_pngs(tmp_path):
    matrix = np.diag([5] * 10) + 1
    for name in ("a", "b"):
        plot_curves(EPOCHS, "accuracy", tmp_path / name / "accuracy.png")
        plot_confusion(matrix, tmp_path / name / "confusion.png")
        plot_predictions(
            font_digits()[:10], np.arange(10), np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 0]), tmp_path / name / "p.png"
        )
    for figure in ("accuracy.png", "confusion.png", "p.png"):
        first = (tmp_path / "a" / figure).read_bytes()
        assert first[:4] == b"\x89PNG" and first == (tmp_path / "b" / figure).read_bytes()


def test_unvalidated_epochs_are_left_out(tmp_path):
    plot_curves(EPOCHS, "loss", tmp_path / "gaps.png")
    validated_only_at_2 = [{**row, "val_loss": row["val_loss"]} for row in EPOCHS]
    plot_curves(validated_only_at_2, "loss", tmp_path / "same.png")
    every_epoch = [{**row, "val_loss": row["loss"] + 0.05} for row in EPOCHS]
    plot_curves(every_epoch, "loss", tmp_path / "full.png")
    assert (tmp_path / "gaps.png").read_bytes() == (tmp_path / "same.png").read_bytes()
    assert (tmp_path / "gaps.png").read_bytes() != (tmp_path / "full.png").read_bytes()


def test_the_offline_page_template_holds_the_pinned_scripts():
    """Issue 13: `dvc plots show` offline drew nothing (DVC's page loads vega from a CDN). The page
    template that .dvc/config names inlines the three pinned packages, each as written by
    tools/offline_plots.py, unchanged since (its sha256), and loads nothing from elsewhere."""
    import configparser
    import hashlib
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("offline_plots", REPO / "tools" / "offline_plots.py")
    offline_plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(offline_plots)
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    assert REPO / ".dvc" / config["plots"]["html_template"] == offline_plots.TEMPLATE
    page = offline_plots.TEMPLATE.read_text(encoding="utf-8")
    assert "{plot_divs}" in page and "{scripts}" not in page and "<script src" not in page  # DVC's CDN tags go nowhere
    scripts = re.findall(
        r'<script data-package="([^"]+)" data-sha256="([0-9a-f]{64})">\n(.*?)\n    </script>', page, re.S
    )
    assert [package for package, _, _ in scripts] == [f"{p}@{v}" for p, v, _, _ in offline_plots.PINS]
    for package, digest, code in scripts:
        assert hashlib.sha256(code.encode()).hexdigest() == digest, package


def test_only_wrong_predictions_are_framed_and_labelled_in_red(tmp_path):
    """Each digit shows up in the grid (ink in its cell), and red marks exactly the wrong ones."""
    from PIL import Image

    labels = np.arange(10)
    plot_predictions(font_digits()[:10], labels, labels, tmp_path / "right.png")
    plot_predictions(font_digits()[:10], labels, np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 0]), tmp_path / "one_wrong.png")

    def red(name):
        pixels = np.asarray(Image.open(tmp_path / name).convert("RGB")).astype(int)
        marked = (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
        return np.flatnonzero(marked.any(axis=1)), np.flatnonzero(marked.any(axis=0)), pixels

    assert red("right.png")[0].size == 0
    rows, columns, pixels = red("one_wrong.png")
    height, width = pixels.shape[:2]
    assert rows.size and rows.min() > height / 2  # the tenth digit: second row of eight
    assert columns.max() - columns.min() < width / 8  # one cell: its label and frame
    assert (red("right.png")[2][..., 0] > 200).sum() > 10 * 50  # white ink of ten digits


@pytest.mark.parametrize("count", [2, 5, 30, 200])
def test_the_epochs_axis_reads_at_any_count(count):
    """Issue 42: a tick per epoch ran 30 epochs' labels together ("1011121314..."). Whole epochs, at
    most about ten of them, every epoch inside the axis."""
    from mnist_ann.training.plots import curves_figure

    rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e} for e in range(1, count + 1)]
    axes = curves_figure(rows, "loss").axes[0]
    low, high = axes.get_xlim()
    ticks = [t for t in axes.get_xticks() if low <= t <= high]
    assert 2 <= len(ticks) <= 11 and all(float(t).is_integer() for t in ticks), ticks
    assert low <= 1 and high >= count
