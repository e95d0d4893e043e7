"""Safe .npy and .npz files: headers checked before anything is allocated, never unpickled, and
written atomically with the same bytes for the same arrays."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import DataError
from .files import atomic_path

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry: entries' bytes never carry the clock
# Far above anything MNIST needs (the float32 training set is 188 MB), far below what a forged header
# could make us allocate.
MAX_ARRAY_BYTES = 2 << 30


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
