"""core/npy.py: .npy and .npz files read without unpickling, headers checked first, written atomically."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.core.errors import DataError
from mnist_ann.core.npy import load_npy, load_npz, save_npy, save_npz


def test_save_npz_round_trip_and_identical_bytes(tmp_path):
    arrays = tiny_mnist()
    save_npz(tmp_path / "a.npz", arrays)
    save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_npz(tmp_path / "a.npz")
    assert list(loaded) == list(arrays)
    for key in arrays:
        np.testing.assert_array_equal(loaded[key], arrays[key])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # no temp files left


def test_save_npy_round_trip_and_mmap(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy"), array)
    assert isinstance(load_npy(tmp_path / "a.npy", mmap=True), np.memmap)


def _forged_npy(shape, dtype="<u1") -> bytes:
    """An .npy header claiming `shape`, followed by almost no data."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + b"\0" * 16


def test_huge_header_is_refused_before_allocating(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", _forged_npy((10**6, 10**6, 100)))
    with pytest.raises(DataError, match=r"header claims \(1000000, 1000000, 100\) uint8 .* over the"):
        load_npz(path)
    (tmp_path / "bomb.npy").write_bytes(_forged_npy((10**12,), "<f8"))
    with pytest.raises(DataError, match="over the 2,147,483,648-byte limit"):
        load_npy(tmp_path / "bomb.npy")


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="holds Python objects"):
        load_npy(path)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"plain text"])
def test_unreadable_npz_is_a_data_error(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="bad.npz: not a readable .npz file"):
        load_npz(path)
