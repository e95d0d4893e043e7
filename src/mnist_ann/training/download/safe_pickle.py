"""A restricted unpickler for the one pickle we read: the MNIST arrays of the registry mirror.

A pickle can name any importable callable and run it while loading, so a plain `pickle.load` of
downloaded bytes is remote code execution. This unpickler resolves only the few names that numpy
array reconstruction needs and refuses every other global, before anything is called.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any

import numpy as np

from ...core.errors import DataError

# numpy 1.x pickles name numpy.core; numpy 2 moved it to numpy._core. Both map to the same function,
# resolved here directly so that loading does not import the deprecated numpy.core shim. Protocol 5
# rebuilds arrays with _frombuffer; protocol 2, written by Python 3, spells bytes as
# _codecs.encode(text, "latin1"). Each of these only builds data.
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = np._core.numeric._frombuffer  # type: ignore[attr-defined]


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers (tuples, lists, dicts, numbers, strings) only."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed") from None


def loads_arrays(data: bytes) -> Any:
    """Unpickle `data` with ArrayOnlyUnpickler.

    `latin1` lets Python 2 pickles of numpy arrays (like the original MNIST pickle) load their raw
    byte strings unchanged.
    """
    try:
        return ArrayOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError:
        raise
    except Exception as exc:  # a damaged pickle raises anything from EOFError to ValueError
        raise DataError(f"not a readable pickle of arrays: {exc}") from None
