"""Array files as `mnist-ann predict` reads them: .npy, .npz and MNIST's IDX (plain or gzipped), as
model-ready pixels, with numpy only. .npy and IDX files are read a chunk at a time with file reads,
so memory stays flat however large they are; an .npz member is loaded whole. Every problem with one
input is an InputError naming it; the caller skips that input and goes on."""

from __future__ import annotations

import contextlib
import gzip
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...core.errors import DataError
from ...core.files import unreadable_reason
from ...core.mnist import IMAGE_SHAPE, NUM_PIXELS, preprocess
from ...core.npy import check_npy_header
from ..errors import InputError
from .discovery import Input

NPZ_KEYS = ("x", "x_test")  # tried in this order when --key is not given
# IDX type codes (MNIST's own format: http://yann.lecun.com/exdb/mnist/), all big-endian.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ArrayInput:
    """An array file seen as N images, read in chunks of model-ready pixels."""

    def __init__(self, item: Input, key: str | None = None):
        self.path = Path(item.path)
        self._array: np.ndarray | None = None  # mapped or loaded; None for gzipped IDX (streamed)
        self._gz_offset = 0
        reason = unreadable_reason(self.path)
        if reason:
            raise InputError(reason)
        try:
            with input_errors():
                if item.kind == "npy":
                    self._open_npy()
                elif item.kind == "npz":
                    self._array = _npz_member(item.path, key)
                else:
                    self._open_idx()
        except InputError:
            raise
        except Exception as exc:  # zip, zlib, gzip and numpy raise a dozen kinds on damaged files
            raise InputError(f"cannot read: {exc or type(exc).__name__}") from None
        if self._array is not None:
            self.shape, self.dtype = self._array.shape, self._array.dtype
        _check_shape(self.shape)
        if not (np.issubdtype(self.dtype, np.integer) or np.issubdtype(self.dtype, np.floating)):
            raise InputError(f"array must hold integers 0-255 or floats 0-1, got dtype {self.dtype}")
        self.count = self.shape[0]

    def _open_npy(self) -> None:
        with open(self.path, "rb") as fp:
            check_npy_header(fp, "array", max_bytes=np.iinfo(np.int64).max)  # mapped, never allocated
        self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)

    def _open_idx(self) -> None:
        gzipped = self.path.name.lower().endswith(".gz")
        with (gzip.open if gzipped else open)(self.path, "rb") as fp:
            magic = fp.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in IDX_DTYPES:
                raise InputError("not an IDX file (bad magic number)")
            self.shape = tuple(int.from_bytes(fp.read(4), "big") for _ in range(magic[3]))
        _check_shape(self.shape)  # before any size is computed from a forged header
        self.dtype = np.dtype(IDX_DTYPES[magic[2]])
        offset = 4 + 4 * len(self.shape)
        if gzipped:  # compressed: streamed in chunks by raw_chunks
            self._gz_offset = offset
            return
        expected = offset + int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        if os.path.getsize(self.path) < expected:
            raise InputError(f"IDX file is truncated: {os.path.getsize(self.path)} bytes, header says {expected}")
        self._array = np.memmap(self.path, dtype=self.dtype, mode="r", offset=offset, shape=self.shape)

    def raw_chunks(self, size: int) -> Iterator[np.ndarray]:
        """The images as stored, `size` at a time. Files are read chunk by chunk, not through the
        memory map: pages read through a map stay resident (and count as the process's memory)
        until the kernel needs them back, so a 1M-image file would look like 800 MB."""
        per_image = NUM_PIXELS * self.dtype.itemsize
        mapped = self._array if isinstance(self._array, np.memmap) else None
        if mapped is not None:
            with open(self.path, "rb") as fp:
                for start in range(0, self.count, size):
                    n = min(size, self.count - start)
                    if mapped.flags.c_contiguous:
                        yield _read(fp, mapped.offset + start * per_image, self.dtype, n * NUM_PIXELS).reshape(n, -1)
                    else:
                        yield _fortran_rows(fp, mapped, start, n)
            return
        if self._array is not None:  # .npz members (loaded)
            yield from (np.asarray(self._array[start : start + size]) for start in range(0, self.count, size))
            return
        with gzip.open(self.path, "rb") as fp:
            fp.seek(self._gz_offset)
            for start in range(0, self.count, size):
                n = min(size, self.count - start)
                try:
                    data = fp.read(n * per_image)
                except (OSError, EOFError, zlib.error) as exc:  # cut mid-stream, or damaged
                    raise InputError(f"cannot read: {exc}") from None
                if len(data) < n * per_image:
                    raise InputError(f"IDX file is truncated after {start + len(data) // per_image} images")
                yield np.frombuffer(data, self.dtype).reshape(n, NUM_PIXELS)

    def check(self, size: int) -> None:
        """Read the whole file once and raise if any value is out of range, so that a bad file is
        skipped whole rather than half scored. uint8 needs no check: every value is a pixel; but a
        gzipped IDX file is read through all the same, since only then is its length known."""
        if self.dtype == np.uint8 and self._array is not None:
            return
        for chunk in self.raw_chunks(size):
            self.pixels(chunk)

    def pixels(self, chunk: np.ndarray) -> np.ndarray:
        with input_errors():
            return preprocess(chunk.astype(chunk.dtype.newbyteorder("="), copy=False))  # a copy only to swap bytes

    @property
    def splittable(self) -> bool:
        """Whether parts of the file can be scored apart (`rows`), each by another worker: a mapped
        file of uint8 pixels, which needs no check of the whole first."""
        return self.dtype == np.uint8 and isinstance(self._array, np.memmap) and self._array.flags.c_contiguous

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Model-ready pixels of images start..stop-1 of a splittable file, read from the file (not
        through the map: see raw_chunks)."""
        count = max(0, min(stop, self.count) - start) * NUM_PIXELS
        assert isinstance(self._array, np.memmap)  # splittable: a mapped file
        with open(self.path, "rb") as fp:
            return self.pixels(
                _read(fp, self._array.offset + start * NUM_PIXELS, np.uint8, count).reshape(-1, NUM_PIXELS)
            )

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(index of the first image, model-ready pixels) for each chunk."""
        for number, chunk in enumerate(self.raw_chunks(size)):
            yield number * size, self.pixels(chunk)


def _read(fp, offset: int, dtype: np.dtype | type[np.generic], count: int) -> np.ndarray:
    """`count` values at `offset`; InputError if the file shrank (through a map: a SIGBUS)."""
    fp.seek(offset)
    values = np.fromfile(fp, dtype, count=count)
    if len(values) < count:
        raise InputError(f"the file shrank while being read: {count - len(values)} values short at byte {offset}")
    return values


def _fortran_rows(fp, mapped: np.memmap, start: int, n: int) -> np.ndarray:
    """Images start..start+n-1 of a Fortran-ordered array, read as runs of n values per pixel
    position (through the map, 300k images took 382 MB against 158 MB in C order)."""
    count, itemsize = mapped.shape[0], mapped.dtype.itemsize
    runs = np.empty((NUM_PIXELS, n), mapped.dtype)
    for position in range(NUM_PIXELS):  # file order: (N, 784) [pixel, image]; (N, 28, 28) [column, row, image]
        runs[position] = _read(fp, mapped.offset + (position * count + start) * itemsize, mapped.dtype, n)
    images = runs.T if len(mapped.shape) == 2 else runs.reshape(28, 28, n).transpose(2, 1, 0)
    return np.ascontiguousarray(images).reshape(n, NUM_PIXELS)


@contextlib.contextmanager
def input_errors(what: str = "") -> Iterator[None]:
    """The one place where a DataError of the shared checks (data.py: headers, shapes, pixel
    ranges) becomes an InputError: the input's own error, which skips it; `what` names the input."""
    try:
        yield
    except DataError as exc:
        raise InputError(f"{what}: {exc}" if what else str(exc)) from None


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) not in (2, 3) or shape[1:] not in (IMAGE_SHAPE, (NUM_PIXELS,)):
        raise InputError(f"array must have shape (N, 28, 28) or (N, 784), got {shape}")


def _npz_member(path: str | Path, key: str | None) -> np.ndarray:
    """The chosen member, read from the entry whose header was checked (numpy's `npz["x"]` prefers
    an entry `x` to `x.npy`: with both, one was checked and the other loaded, 2.5 MB to 2.59 GB)."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
            names = [n.removesuffix(".npy") for n in entries]
            twice = next((n for n in names if names.count(n) > 1), None)
            if twice is not None:
                raise InputError(f"npz holds {twice!r} twice (as {twice} and {twice}.npy): which one is meant?")
            chosen = key or next((k for k in NPZ_KEYS if k in names), names[0] if len(names) == 1 else None)
            if chosen not in names:
                wanted = f"key {key!r}" if key else f"one of the keys {', '.join(NPZ_KEYS)} (or --key)"
                raise InputError(f"npz has no {wanted}; it has {', '.join(names) or 'nothing'}")
            entry = entries[names.index(chosen)]
            if not entry.endswith(".npy"):
                raise InputError(f"npz member {entry!r} is not a .npy array (its name lacks .npy)")
            with archive.open(entry) as fp:
                check_npy_header(fp, f"array {chosen}")
            with archive.open(entry) as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        raise InputError(f"not a readable .npz file: {exc}") from None
