"""The figures a person looks at: the seed's accuracy and loss curves, the confusion matrix, and a
grid of test digits with their predicted and true labels. Each is written as a PNG, atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure  # not pyplot: files only, no display, and 0.6 s less to import
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..core.files import atomic_path

_WRONG = "#d62728"
# The predictions grid, in pixels of the montage: a 28x28 digit with a margin, under its label.
_MARGIN, _LABEL_HEIGHT = 5, 12
_CELL_WIDTH, _CELL_HEIGHT = 28 + 2 * _MARGIN, _LABEL_HEIGHT + 28 + _MARGIN


def _save(figure: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # No software/version stamp: the same figure gives the same bytes.
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def plot_curves(epochs: Sequence[Mapping[str, Any]], metric: str, path: str | Path) -> None:
    """Training vs validation `metric` per epoch, as the seed's figures, from one row per epoch (as
    model.epoch_table makes them); epochs that were not validated have None and are left out."""
    _save(curves_figure(epochs, metric), path)


def curves_figure(epochs: Sequence[Mapping[str, Any]], metric: str) -> Figure:
    """plot_curves' figure, before it is written."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    numbers = [row["epoch"] for row in epochs]
    axes.plot(numbers, [row[metric] for row in epochs], marker="o", label=f"Training {metric}")
    validated = [(row["epoch"], row.get(f"val_{metric}")) for row in epochs if row.get(f"val_{metric}") is not None]
    if validated:
        axes.plot(*zip(*validated), marker="o", label=f"Validation {metric}")
    axes.set(title=f"Training and Validation {metric.capitalize()}", xlabel="epoch", ylabel=metric)
    # whole epochs, at most about ten labels: one per epoch ran together at 30 ("1011121314...")
    axes.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    axes.legend()
    axes.grid(alpha=0.3)
    return figure


def plot_confusion(matrix: np.ndarray, path: str | Path) -> None:
    """The confusion matrix as a heat map with the count in each cell."""
    matrix = np.asarray(matrix)
    figure = Figure(figsize=(6.5, 5.5))
    axes = figure.subplots()
    image = axes.imshow(np.log1p(matrix), cmap="Blues")  # log scale: errors stay visible next to the diagonal
    for (true, predicted), count in np.ndenumerate(matrix):
        shade = float(image.norm(np.log1p(count)))  # type: ignore[arg-type]  # a scalar in, a scalar out
        color = "white" if shade > 0.6 else "black"
        axes.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=color)
    axes.set(
        title="Confusion matrix (test set)",
        xlabel="predicted digit",
        ylabel="true digit",
        xticks=range(len(matrix)),
        yticks=range(len(matrix)),
    )
    _save(figure, path)


def plot_predictions(
    images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: str | Path, *, title: str = "predicted (true)"
) -> None:
    """A grid of digits titled `predicted (true)`; misclassified ones in red with a red frame.

    Drawn as one image with a label over each digit, not one subplot per digit: 32 subplots and
    their layout took 2 of the evaluate stage's 3 s of figures (measured on 2 cores)."""
    count = len(images)
    columns = min(8, count)
    rows = -(-count // columns)
    digits = np.asarray(images, dtype=np.float32).reshape(count, 28, 28)
    montage = np.full((rows * _CELL_HEIGHT, columns * _CELL_WIDTH), np.nan, np.float32)  # NaN: blank paper
    figure = Figure(figsize=(1.3 * columns, 1.5 * rows))
    axes = figure.add_axes((0, 0, 1, 1 - 0.3 / (1.5 * rows)))  # the top 0.3 inch for the title
    for index, (digit, true, guess) in enumerate(zip(digits, labels, predicted)):
        top, left = (index // columns) * _CELL_HEIGHT + _LABEL_HEIGHT, (index % columns) * _CELL_WIDTH + _MARGIN
        montage[top : top + 28, left : left + 28] = digit
        wrong = guess != true
        axes.text(
            left + 14,
            top - 2,
            f"{guess} ({true})",
            ha="center",
            va="bottom",
            fontsize=9,
            color=_WRONG if wrong else "black",
        )
        if wrong:
            axes.add_patch(Rectangle((left - 1.5, top - 1.5), 30, 30, fill=False, edgecolor=_WRONG, linewidth=2.5))
    colours = matplotlib.colormaps["gray"].with_extremes(bad="white")
    low, high = min(0.0, float(np.nanmin(montage))), max(1.0, float(np.nanmax(montage)))
    axes.imshow(montage, cmap=colours, vmin=low, vmax=high)
    axes.axis("off")
    figure.suptitle(title, fontsize=10)
    _save(figure, path)
