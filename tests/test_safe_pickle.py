"""The restricted unpickler reads numpy arrays and refuses anything that could run code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mnist_ann.core.errors import DataError
from mnist_ann.training.download.safe_pickle import loads_arrays


class _RunsCode:
    """Unpickling this calls os.system: the classic pickle exploit."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCode(f"touch {marker}"))
    assert b"system" in payload  # the payload really names os.system
    with pytest.raises(DataError, match=r"refusing to unpickle (posix|os)\.system"):
        loads_arrays(payload)
    assert not marker.exists()


@pytest.mark.parametrize("harmful", [eval, getattr, __import__])
def test_refuses_builtins(harmful):
    class Reduces:
        def __reduce__(self):
            return (harmful, ("1",))

    with pytest.raises(DataError, match="refusing to unpickle builtins"):
        loads_arrays(pickle.dumps(Reduces()))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_reads_nested_arrays(protocol):
    arrays = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64)), [np.zeros(3, np.uint8)])
    loaded = loads_arrays(pickle.dumps(arrays, protocol=protocol))
    np.testing.assert_array_equal(loaded[0][0], arrays[0][0])
    assert loaded[0][0].dtype == np.float32
    np.testing.assert_array_equal(loaded[1][0], arrays[1][0])


def test_reads_numpy1_names():
    """Pickles written by numpy 1.x name numpy.core.multiarray; they must load under numpy 2."""
    payload = pickle.dumps(np.arange(4, dtype=np.uint8), protocol=2)
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in payload
    np.testing.assert_array_equal(loads_arrays(payload), np.arange(4))


@pytest.mark.parametrize("damage", [lambda p: p[: len(p) // 2], lambda p: b"not a pickle"])
def test_damaged_pickle_is_a_data_error(damage):
    with pytest.raises(DataError, match="not a readable pickle"):
        loads_arrays(damage(pickle.dumps(np.arange(100))))
