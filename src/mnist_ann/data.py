"""MNIST arrays with numpy only: the canonical layout and its check, safe .npz/.npy I/O, and
`preprocess`, the one function that turns images into model input for training and inference alike.

Nothing here imports TensorFlow, so batch inference can use it without paying for TF's import.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import DataError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry: entries' bytes never carry the clock

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)
NUM_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
# Far above anything MNIST needs (the float32 training set is 188 MB), far below what a forged header
# could make us allocate.
MAX_ARRAY_BYTES = 2 << 30


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


def read_npy_header(fp) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from the .npy header at `fp`, which is left just past it;
    ValueError for a file that is not .npy."""
    version = np.lib.format.read_magic(fp)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
    return read_header(fp)


def check_npy_header(fp, what: str, max_bytes: int = MAX_ARRAY_BYTES) -> None:
    """Read an .npy header from `fp` and refuse object arrays and sizes above `max_bytes`, before
    anything is allocated."""
    try:
        shape, _, dtype = read_npy_header(fp)
    except ValueError as exc:
        raise DataError(f"{what}: not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise DataError(f"{what}: holds Python objects, which are never loaded (allow_pickle=False)")
    size = int(np.prod(shape, dtype=np.uint64)) * dtype.itemsize
    if size > max_bytes:
        raise DataError(f"{what}: header claims {shape} {dtype} ({size:,} bytes), over the {max_bytes:,}-byte limit")


def load_npz(path: str | Path, max_bytes: int = MAX_ARRAY_BYTES) -> dict[str, np.ndarray]:
    """Load every array of an .npz file, never unpickling and checking each header's size first."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as fp:
                    check_npy_header(fp, f"{path}:{member}", max_bytes)
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file: {exc}") from None


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` as an uncompressed .npz atomically, with byte-identical output for identical
    arrays (numpy's own savez stamps the current time into the zip), so DVC sees no change."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            with archive.open(info, "w", force_zip64=True) as fp:
                np.lib.format.write_array(fp, np.ascontiguousarray(array), allow_pickle=False)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """np.save, atomically and without pickling."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fp:
        np.save(fp, array, allow_pickle=False)


def load_npy(path: str | Path, max_bytes: int = MAX_ARRAY_BYTES, mmap: bool = False) -> np.ndarray:
    """np.load of one .npy, never unpickling and checking its header's size first."""
    try:
        with open(path, "rb") as fp:
            check_npy_header(fp, str(path), max_bytes)
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file: {exc}") from None


def preprocess(images: np.ndarray) -> np.ndarray:
    """Images (N, 28, 28) or (N, 784) -> float32 (N, 784) in [0, 1], as the model expects.

    Integer pixels must be 0-255 and are divided by 255 in float32, exactly as the seed's
    `tf.cast(x, tf.float32) / 255.`; float pixels must already be in [0, 1].
    """
    if images.ndim not in (2, 3) or images.shape[1:] not in (IMAGE_SHAPE, (NUM_PIXELS,)):
        raise DataError(f"images must have shape (N, 28, 28) or (N, 784), got {images.shape}")
    flat = images.reshape(len(images), NUM_PIXELS)
    if np.issubdtype(flat.dtype, np.integer) or flat.dtype == np.bool_:
        if flat.dtype != np.uint8 and flat.size and (flat.min() < 0 or flat.max() > 255):
            raise DataError(f"integer pixels must be 0-255, got {flat.min()}..{flat.max()}")
        return flat.astype(np.float32) / np.float32(255)
    if np.issubdtype(flat.dtype, np.floating):
        flat = flat.astype(np.float32, copy=False)
        if not np.isfinite(flat).all():
            raise DataError("float pixels must be finite, found NaN or inf")
        if flat.size and (flat.min() < 0 or flat.max() > 1):
            raise DataError(f"float pixels must be in [0, 1], got {flat.min():g}..{flat.max():g}")
        return flat
    raise DataError(f"pixels must be integers 0-255 or floats 0-1, got dtype {flat.dtype}")


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
