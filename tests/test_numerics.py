"""The numerics the stages train with: the same weights whatever the caller's oneDNN, instruction-set
and thread settings, since those are what made the committed model differ from CPU to CPU (issue 23)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from helpers import REPO
from mnist_ann.core.errors import MnistAnnError
from mnist_ann.training.numerics import MODE, PINNED, numerics_description, pin_numerics

# Trains the seed's network briefly on fixed random data, through the stages' own start_keras, and
# prints the weights' hash and what the run's provenance would record.
TRAIN = """
import hashlib, os, sys, numpy as np
from mnist_ann.training.harness import start_keras
start_keras()
if "MATRIX_CACHE" in os.environ:  # Eigen's cache sizes as another CPU reports them
    sys.path.insert(0, "tools")
    from numerics_matrix import set_eigen_cache_sizes
    set_eigen_cache_sizes(*map(int, os.environ["MATRIX_CACHE"].split(",")))
from mnist_ann.training import model as ann
from mnist_ann.training.numerics import numerics_description
rng = np.random.default_rng(7)
x, y = rng.random((512, 784), dtype=np.float32), rng.integers(0, 10, 512).astype(np.uint8)
ann.make_deterministic(42)
m = ann.build_model(hidden_units=[256, 128, 64, 32], activation="relu", optimizer="adam",
                    learning_rate=0.01, loss="categorical_crossentropy")
ann.fit(m, (x, y), (x[:128], y[:128]), batch_size=128, epochs=2, validation_freq=1)
print(hashlib.sha256(b"".join(w.tobytes() for w in m.get_weights())).hexdigest(), numerics_description())
"""

# What a user's shell or a CPU may set: oneDNN forced on, capped to an older instruction set, one
# thread, many threads.
CALLER_SETTINGS = {
    "defaults": {},
    "onednn-on-avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn-on-sse41": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "onednn-off-one-thread": {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1"},
    "custom-kernels-avx512": {"TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "1", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}


def trained(settings: dict[str, str]) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*PINNED, "ONEDNN_MAX_CPU_ISA", MODE)}
    result = subprocess.run(
        [sys.executable, "-c", TRAIN], cwd=REPO, env={**env, **settings}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    digest, description = result.stdout.strip().split(" ", 1)
    return digest, description


@pytest.mark.slow
def test_the_weights_do_not_depend_on_the_callers_numerics_settings():
    weights = {name: trained(settings) for name, settings in CALLER_SETTINGS.items()}
    assert len({digest for digest, _ in weights.values()}) == 1, weights
    assert {description for _, description in weights.values()} == {numerics_description(PINNED)}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nm") is None, reason="binutils' nm finds Eigen's cache sizes in TensorFlow")
def test_eigen_gives_the_same_weights_for_every_common_first_level_cache():
    """What the pinned numerics leave to the CPU: Eigen's block sizes, from the cache sizes it
    reports. Set in the process to those of other CPUs (L1 data, L2, L3 bytes), 32 to 64 KiB of L1
    give the same weights; 16 KiB (AMD Bulldozer, 2011-2016) does not, which shows the setting
    takes effect. docs/pipeline.md says so."""
    common = {
        "skylake": "32768,262144,8388608",
        "ice-lake-sp": "49152,1310720,50331648",
        "64k-l1": "65536,1048576,33554432",
    }
    weights = {cpu: trained({"MATRIX_CACHE": sizes})[0] for cpu, sizes in common.items()}
    assert len(set(weights.values())) == 1, weights
    assert trained({"MATRIX_CACHE": "16384,2097152,8388608"})[0] != weights["skylake"]


@pytest.mark.slow
def test_native_numerics_keep_the_callers_settings_and_so_their_bits():
    """The control, and the way out for speed: with MNIST_ANN_NUMERICS=native the caller's thread
    count applies, and one thread blocks Eigen's sums differently from two on any CPU."""
    one = trained({MODE: "native", "TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1"})
    two = trained({MODE: "native", "TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "2"})
    assert one[0] != two[0]
    assert one[1].startswith("native: ") and "TF_NUM_INTRAOP_THREADS=1" in one[1]


def test_pinning_overrides_the_callers_values_and_native_leaves_them():
    environ = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_NUM_INTRAOP_THREADS": "64"}
    assert pin_numerics(environ) == "pinned"
    assert environ == PINNED
    native = {MODE: "native", "TF_NUM_INTRAOP_THREADS": "64"}
    assert pin_numerics(native) == "native"
    assert native == {MODE: "native", "TF_NUM_INTRAOP_THREADS": "64"}


def test_an_unknown_mode_is_one_line():
    """Issue 37 (18): a ValueError was a traceback from every stage; a MnistAnnError is one line, exit 1."""
    with pytest.raises(MnistAnnError, match=r"^MNIST_ANN_NUMERICS='fast': expected pinned or native$"):
        pin_numerics({MODE: "fast"})


@pytest.mark.heavy
def test_pinning_after_tensorflow_loaded_with_other_settings_fails_loudly():
    """Too late to apply: TensorFlow read its settings when it loaded."""
    probe = "import tensorflow\nfrom mnist_ann.training.numerics import pin_numerics\npin_numerics()\n"
    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "RuntimeError: pin_numerics() must run before TensorFlow is imported" in result.stderr
