"""The numerics every TensorFlow process of the project runs with: the same code, params and data
give the same bits on any x86-64 CPU, not only on the one that trained the committed model.

TensorFlow chooses how to compute a matrix product at run time, and the order of the floating-point
sums changes with the choice. Measured on one Zen 4 machine (docs/pipeline.md, "Same bits on every
CPU"), each of these alone changed the trained weights:
- oneDNN's kernels (TF_ENABLE_ONEDNN_OPTS), which TensorFlow turns on by default only on some CPUs
  and which dispatch on the CPU's instruction set (ONEDNN_MAX_CPU_ISA);
- TensorFlow's own Eigen matmuls, which hand their inner products to oneDNN's sgemm as well unless
  TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL is off;
- the thread count, which by default is the machine's core count: one thread blocks Eigen's sums
  differently from two or more.
What is left is Eigen's own code, compiled into the wheel for a fixed instruction set. Its block
sizes come from the cache sizes the CPU reports; for this network they give the same bits for every
first-level data cache from 32 to 64 KiB (Intel's Core and Xeon since 2006, AMD's Zen), not for the
24 KiB of some Atoms or the 16 KiB of AMD's Bulldozers (measured by setting them in the process:
tools/numerics_matrix.py).

TensorFlow reads these variables once, when it loads: pin_numerics() must run before it is imported
(harness.start_keras does, and the test suite's conftest). MNIST_ANN_NUMERICS=native keeps TensorFlow's
own defaults and the caller's settings, for speed on a large machine, at the price of the bits."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

from ..core.errors import MnistAnnError

THREADS = 2  # fixed, not the core count: any count >= 2 gives the same bits here, 1 does not
PINNED = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0",
    "TF_NUM_INTRAOP_THREADS": str(THREADS),
    "TF_NUM_INTEROP_THREADS": str(THREADS),
}
MODE = "MNIST_ANN_NUMERICS"  # "pinned" (the default) or "native"


def pin_numerics(environ: MutableMapping[str, str] = os.environ) -> str:
    """Put PINNED into `environ` (overriding the caller's values) unless MNIST_ANN_NUMERICS is
    "native"; returns the mode. Fails if TensorFlow is already loaded with other settings, since
    they would silently not apply."""
    mode = environ.get(MODE, "pinned").strip().lower() or "pinned"
    if mode not in ("pinned", "native"):
        raise MnistAnnError(f"{MODE}={environ[MODE]!r}: expected pinned or native")
    if mode == "pinned":
        loaded = environ is os.environ and "tensorflow" in sys.modules
        if loaded and any(environ.get(k) != v for k, v in PINNED.items()):
            raise RuntimeError("pin_numerics() must run before TensorFlow is imported")
        environ.update(PINNED)
    return mode


def numerics_description(environ: MutableMapping[str, str] = os.environ) -> str:
    """What a run's provenance records: how this process's TensorFlow computes."""
    if all(environ.get(k) == v for k, v in PINNED.items()):
        return f"pinned: oneDNN off, Eigen contraction kernels, {THREADS} threads"
    return "native: " + ", ".join(f"{k}={environ.get(k, 'unset')}" for k in PINNED)
