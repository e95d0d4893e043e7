"""The figures a person looks at: the seed's accuracy and loss curves, the confusion matrix, and a
grid of test digits with their predicted and true labels. Each is written as a PNG, atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt
import numpy as np

from .atomic import atomic_path

_WRONG = "#d62728"


def _save(figure: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # No software/version stamp: the same figure gives the same bytes.
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)


def plot_curves(epochs: Sequence[Mapping[str, float | None]], metric: str, path: str | Path) -> None:
    """Training vs validation `metric` per epoch, as the seed's figures, from one row per epoch (as
    model.epoch_table makes them); epochs that were not validated have None and are left out."""
    figure, axes = plt.subplots(figsize=(6, 4))
    numbers = [row["epoch"] for row in epochs]
    axes.plot(numbers, [row[metric] for row in epochs], marker="o", label=f"Training {metric}")
    validated = [(row["epoch"], row.get(f"val_{metric}")) for row in epochs if row.get(f"val_{metric}") is not None]
    if validated:
        axes.plot(*zip(*validated), marker="o", label=f"Validation {metric}")
    axes.set(title=f"Training and Validation {metric.capitalize()}", xlabel="epoch", ylabel=metric)
    axes.set_xticks(numbers)
    axes.legend()
    axes.grid(alpha=0.3)
    _save(figure, path)


def plot_confusion(matrix: np.ndarray, path: str | Path) -> None:
    """The confusion matrix as a heat map with the count in each cell."""
    matrix = np.asarray(matrix)
    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    image = axes.imshow(np.log1p(matrix), cmap="Blues")  # log scale: errors stay visible next to the diagonal
    for (true, predicted), count in np.ndenumerate(matrix):
        color = "white" if image.norm(np.log1p(count)) > 0.6 else "black"
        axes.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=color)
    axes.set(
        title="Confusion matrix (test set)",
        xlabel="predicted digit",
        ylabel="true digit",
        xticks=range(len(matrix)),
        yticks=range(len(matrix)),
    )
    _save(figure, path)


def plot_predictions(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: str | Path) -> None:
    """A grid of digits titled `predicted (true)`; misclassified ones in red with a red frame."""
    count = len(images)
    columns = min(8, count)
    rows = -(-count // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, image, true, guess in zip(grid.flat, images, labels, predicted):
        wrong = guess != true
        axes.imshow(np.asarray(image).reshape(28, 28), cmap="gray")
        axes.set_title(f"{guess} ({true})", color=_WRONG if wrong else "black", fontsize=9)
        if wrong:
            axes.axis("on")
            axes.set(xticks=[], yticks=[])
            for spine in axes.spines.values():
                spine.set(color=_WRONG, linewidth=2.5)
    figure.suptitle("predicted (true)", fontsize=10)
    figure.tight_layout()
    _save(figure, path)
