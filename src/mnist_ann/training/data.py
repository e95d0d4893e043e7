"""The pipeline's MNIST arrays: the data set's pinned content and its check, the layout the
preprocess stage writes, and the splits it reads back."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.mnist import IMAGE_SHAPE
from ..core.npy import load_npy, save_npy


@dataclass(frozen=True)
class ArraySpec:
    """What one array must be: its shape, dtype, and the sha256 of its raw C-order bytes."""

    shape: tuple[int, ...]
    dtype: str
    sha256: str


# The Keras layout of mnist.npz, with the hashes of the original data set.
MNIST: dict[str, ArraySpec] = {
    "x_train": ArraySpec((60000, 28, 28), "uint8", "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ArraySpec((60000,), "uint8", "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ArraySpec((10000, 28, 28), "uint8", "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ArraySpec((10000,), "uint8", "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def spec_of(arrays: Mapping[str, np.ndarray]) -> dict[str, ArraySpec]:
    """The spec that `arrays` match exactly (to pin a data set other than MNIST, e.g. in tests)."""
    return {k: ArraySpec(a.shape, a.dtype.name, array_sha256(a)) for k, a in arrays.items()}


def verify(arrays: Mapping[str, np.ndarray], expected: Mapping[str, ArraySpec] = MNIST) -> None:
    """Raise DataError naming the first array that is missing or differs from `expected`."""
    for key, spec in expected.items():
        if key not in arrays:
            raise DataError(f"{key} is missing (have: {', '.join(sorted(arrays)) or 'nothing'})")
        array = arrays[key]
        if array.shape != spec.shape or array.dtype.name != spec.dtype:
            raise DataError(f"{key} is {array.dtype.name} {array.shape}, expected {spec.dtype} {spec.shape}")
        if array_sha256(array) != spec.sha256:
            raise DataError(f"{key} has the right shape but not the expected content (sha256 differs)")


def check_layout(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise DataError unless `arrays` has the Keras MNIST layout: uint8 images (N, 28, 28) and uint8
    labels (N,) for train and test, of any N (the content is checked once, by the download stage)."""
    for split in ("train", "test"):
        for key, tail, shown in ((f"x_{split}", IMAGE_SHAPE, "(N, 28, 28)"), (f"y_{split}", (), "(N,)")):
            if key not in arrays:
                raise DataError(f"{key} is missing (have: {', '.join(sorted(arrays)) or 'nothing'})")
            array = arrays[key]
            if array.dtype != np.uint8 or array.ndim != 1 + len(tail) or array.shape[1:] != tail:
                raise DataError(f"{key} is {array.dtype.name} {array.shape}, expected uint8 {shown}")
        images, labels = len(arrays[f"x_{split}"]), len(arrays[f"y_{split}"])
        if images != labels:
            raise DataError(f"x_{split} has {images} images but y_{split} has {labels} labels")


def first_or_all(rows: np.ndarray, count: int) -> np.ndarray:
    """The first `count` rows, or all of them when `count` is 0 (params.yaml's "keep all" value)."""
    return rows[:count] if count else rows


def save_split(folder: str | Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split ("train" or "test") as the preprocess stage lays it out: x_<split>.npy and
    y_<split>.npy in `folder`, each atomically."""
    save_npy(Path(folder) / f"x_{split}.npy", images)
    save_npy(Path(folder) / f"y_{split}.npy", labels)


def load_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one split, as save_split wrote them."""
    return load_npy(Path(folder) / f"x_{split}.npy"), load_npy(Path(folder) / f"y_{split}.npy")
