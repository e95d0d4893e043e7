"""object_arrays.py on a real S3-compatible server: an .npy object of uint8 pixels in C order is cut
into row ranges whose ranged reads give the local file's pixels; any other is read whole; an object
shorter than its header says is that input's error."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mnist_ann.core.mnist import preprocess
from mnist_ann.predict.errors import InputError
from mnist_ann.predict.inputs.object_arrays import object_array_ranges, object_rows


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_a_uint8_npy_object_is_cut_into_ranges_read_with_ranged_gets(s3):
    pixels = np.random.default_rng(0).integers(0, 256, (23, 28, 28), dtype=np.uint8)
    s3.put("s3://digits-in/a.npy", _npy(pixels))
    tasks = object_array_ranges("s3://digits-in/a.npy", "npy", 10)
    assert [(t["start"], t["stop"]) for t in tasks] == [(0, 10), (10, 20), (20, 23)]
    assert {t["offset"] for t in tasks} == {128}  # numpy's header of an MNIST-shaped array
    read = [(start, rows) for task in tasks for start, rows in object_rows(task, 4)]
    assert [start for start, _ in read] == [0, 4, 8, 10, 14, 18, 20]
    np.testing.assert_array_equal(np.concatenate([rows for _, rows in read]), preprocess(pixels.reshape(23, -1)))


@pytest.mark.parametrize(
    "content",
    [
        _npy(np.zeros((5, 784), np.float32)),  # floats: checked whole first
        _npy(np.asfortranarray(np.zeros((5, 784), np.uint8))),
        _npy(np.zeros((5, 28, 28), np.uint8))[:-10],  # shorter than its header: its actor reports it
        _npy(np.zeros((5, 10), np.uint8)),
        b"not an npy at all",
    ],
    ids=["float", "fortran", "truncated", "shape", "garbage"],
)
def test_any_other_array_object_is_read_whole(s3, content):
    s3.put("s3://digits-in/a.npy", content)
    assert object_array_ranges("s3://digits-in/a.npy", "npy", 10) is None


def test_idx_and_npz_objects_are_read_whole_without_a_request(s3):
    assert object_array_ranges("s3://digits-in/missing-idx3-ubyte", "idx", 10) is None
    assert object_array_ranges("s3://digits-in/missing.npz", "npz", 10) is None


def test_an_object_replaced_by_a_shorter_one_is_that_inputs_error(s3):
    s3.put("s3://digits-in/a.npy", _npy(np.zeros((20, 784), np.uint8)))
    tasks = object_array_ranges("s3://digits-in/a.npy", "npy", 10)
    s3.put("s3://digits-in/a.npy", _npy(np.zeros((12, 784), np.uint8)))
    with pytest.raises(InputError, match="shorter than its header says"):
        list(object_rows(tasks[1], 10))
