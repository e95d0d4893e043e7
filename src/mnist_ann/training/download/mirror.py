"""The registry mirror's data file: the original MNIST pickle (gzipped, as deeplearning.net shipped
it), read with the array-only unpickler and turned into the Keras layout. Only the download stage
reads it."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, cast

import numpy as np

from ...core.errors import DataError
from ...core.mnist import IMAGE_SHAPE, NUM_CLASSES
from .safe_pickle import loads_arrays


def read_mnist_pickle(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a gzipped MNIST pickle, in the Keras layout; DataError if it is anything else."""
    try:
        with gzip.open(path, "rb") as fp:
            pickled = fp.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path.name}: not a readable gzip file: {exc}") from None
    return from_pickled_splits(loads_arrays(pickled))


def from_pickled_splits(splits: object) -> dict[str, np.ndarray]:
    """The original MNIST pickle's `((x, y) train, (x, y) valid, (x, y) test)`, pixels as float32
    v/256 and train+valid being the original 60000 in order, -> the Keras layout of uint8 arrays."""
    try:
        (x_fit, y_fit), (x_valid, y_valid), (x_test, y_test) = cast(Any, splits)
    except (TypeError, ValueError):
        raise DataError("pickle is not the MNIST ((x, y), (x, y), (x, y)) layout") from None
    x_train, y_train = np.concatenate([x_fit, x_valid]), np.concatenate([y_fit, y_valid])
    return {
        "x_train": _pixels_from_fraction(x_train, "x_train"),
        "y_train": _labels(y_train, "y_train"),
        "x_test": _pixels_from_fraction(x_test, "x_test"),
        "y_test": _labels(y_test, "y_test"),
    }


def _pixels_from_fraction(x: np.ndarray, key: str) -> np.ndarray:
    # v/256 is exact in float32, so v*256 recovers the original integer exactly; anything else means
    # the file is not what it claims.
    scaled = np.asarray(x, dtype=np.float32).reshape(-1, *IMAGE_SHAPE) * np.float32(256)
    pixels = np.rint(scaled)
    if not (np.array_equal(pixels, scaled) and pixels.min() >= 0 and pixels.max() <= 255):
        raise DataError(f"{key}: pixels are not whole multiples of 1/256 in [0, 1)")
    return pixels.astype(np.uint8)


def _labels(y: np.ndarray, key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(f"{key}: labels must be 0-9, got {y.min()}..{y.max()}")
    return y.astype(np.uint8)
