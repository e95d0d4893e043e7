"""numpy-only data handling: preprocess, the canonical check, safe .npz/.npy I/O, the mirror layout."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.data import (
    MNIST,
    check_layout,
    first_or_all,
    load_npy,
    load_npz,
    load_split,
    preprocess,
    save_npy,
    save_npz,
    save_split,
    spec_of,
    verify,
)
from mnist_ann.errors import DataError


def test_preprocess_matches_the_seed_formula():
    images = tiny_mnist()["x_train"]
    x = preprocess(images)
    assert x.shape == (30, 784) and x.dtype == np.float32
    # The seed: tf.reshape(tf.cast(x, tf.float32) / 255., [784]), image by image.
    expected = np.stack([(image.astype(np.float32) / np.float32(255.0)).reshape(784) for image in images])
    np.testing.assert_array_equal(x, expected)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_preprocess_extremes_and_flat_input():
    images = np.array([np.zeros((28, 28)), np.full((28, 28), 255)], dtype=np.uint8)
    x = preprocess(images.reshape(2, 784))
    assert x[0].max() == 0.0 and x[1].min() == 1.0


def test_preprocess_keeps_float_input_in_range():
    floats = np.random.default_rng(1).random((4, 28, 28))
    x = preprocess(floats)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, floats.reshape(4, 784).astype(np.float32))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((3, 27, 28), np.uint8), r"shape \(N, 28, 28\) or \(N, 784\), got \(3, 27, 28\)"),
        (np.zeros((784,), np.uint8), r"got \(784,\)"),
        (np.full((2, 784), 256, np.int32), "integer pixels must be 0-255, got 256..256"),
        (np.full((2, 784), -1, np.int16), "integer pixels must be 0-255, got -1"),
        (np.full((2, 784), np.nan, np.float32), "must be finite"),
        (np.full((2, 784), np.inf, np.float64), "must be finite"),
        (np.full((2, 784), 1.5, np.float32), r"float pixels must be in \[0, 1\], got 1.5"),
        (np.full((2, 784), "x", object), "pixels must be integers 0-255 or floats 0-1, got dtype object"),
    ],
)
def test_preprocess_rejects_bad_arrays(images, message):
    with pytest.raises(DataError, match=message):
        preprocess(images)


def test_first_or_all_keeps_all_for_zero():
    labels = np.arange(10)
    assert len(first_or_all(labels, 0)) == 10 and list(first_or_all(labels, 3)) == [0, 1, 2]


def test_verify_accepts_exact_and_names_what_differs():
    arrays = tiny_mnist()
    spec = spec_of(arrays)
    verify(arrays, spec)
    with pytest.raises(DataError, match="y_test is missing"):
        verify({k: v for k, v in arrays.items() if k != "y_test"}, spec)
    changed = dict(arrays, x_train=arrays["x_train"].copy())
    changed["x_train"][0, 0, 0] ^= 1
    with pytest.raises(DataError, match="x_train has the right shape but not the expected content"):
        verify(changed, spec)
    with pytest.raises(DataError, match=r"y_train is int64 \(30,\), expected uint8 \(30,\)"):
        verify(dict(arrays, y_train=arrays["y_train"].astype(np.int64)), spec)


def test_canonical_spec_is_the_keras_layout():
    assert {k: (s.shape, s.dtype) for k, s in MNIST.items()} == {
        "x_train": ((60000, 28, 28), "uint8"),
        "y_train": ((60000,), "uint8"),
        "x_test": ((10000, 28, 28), "uint8"),
        "y_test": ((10000,), "uint8"),
    }


def test_check_layout_names_the_bad_array():
    arrays = tiny_mnist()
    check_layout(arrays)
    with pytest.raises(DataError, match=r"x_test is float32 \(10, 784\), expected uint8 \(N, 28, 28\)"):
        check_layout(dict(arrays, x_test=np.zeros((10, 784), np.float32)))
    with pytest.raises(DataError, match="x_train has 30 images but y_train has 29 labels"):
        check_layout(dict(arrays, y_train=arrays["y_train"][:29]))


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


def test_split_round_trip(tmp_path):
    """save_split and load_split agree on the file layout the preprocess stage writes."""
    raw = tiny_mnist(train=6, test=3)
    images = preprocess(raw["x_test"])
    save_split(tmp_path / "processed", "test", images, raw["y_test"])
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["x_test.npy", "y_test.npy"]
    loaded_images, loaded_labels = load_split(tmp_path / "processed", "test")
    assert np.array_equal(loaded_images, images) and np.array_equal(loaded_labels, raw["y_test"])
    with pytest.raises(FileNotFoundError):
        load_split(tmp_path / "processed", "train")
