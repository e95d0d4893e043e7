"""evaluation/watch_reference.py: the reference the export stage puts in the model. The temperature
is the one that generated the labels, the reference's images are the test split's even half and
its components come from training images, and the stored arrays are those its quantiles measured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import DenseNetwork
from mnist_ann.core.monitoring import Reference, Watch
from mnist_ann.training.evaluation.watch_reference import COMPONENTS, build_reference, fit_temperature


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20_000, 10)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for temperature in (0.5, 2.0):
        tempered = np.exp(logits / temperature) / np.exp(logits / temperature).sum(axis=1, keepdims=True)
        labels = (tempered.cumsum(axis=1) > rng.random((20_000, 1))).argmax(axis=1)
        assert fit_temperature(probabilities.astype(np.float32), labels) == pytest.approx(temperature, rel=0.05)


def test_the_reference_is_made_from_the_even_test_half_and_training_components():
    rng = np.random.default_rng(1)
    network = DenseNetwork()
    test = rng.random((400, 784)).astype(np.float32), rng.integers(0, 10, 400)
    train = rng.random((900, 784)).astype(np.float32)
    reference = build_reference(network.predict, test, train)
    assert reference.images == 200 and "200 held-out MNIST test images" in reference.data
    assert "300 training images" in reference.data  # every third
    assert reference.components.shape == (784, COMPONENTS) and reference.mean == pytest.approx(
        train[::3].mean(axis=0), abs=1e-3
    )
    gram = reference.components.T @ reference.components
    assert np.allclose(gram, np.eye(COMPONENTS), atol=1e-2)
    again = Reference.from_json(reference.to_json())
    watch = Watch(again)
    watch.observe(test[0][::2], network.predict(test[0][::2]))  # the reference's own images: the middle
    assert abs(watch.drift()["score"]) < 0.02, watch.drift()


# Each setting changes how a float32 or float64 product's sums are ordered: OpenBLAS's kernel for
# the CPU (by its family) and its thread count, and numpy's own AVX-512 loops.
_KERNELS = [
    {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"},
    {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2"},
    {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"},
    {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"},
]
_AVX512 = {"OPENBLAS_CORETYPE": "SkylakeX", "OPENBLAS_NUM_THREADS": "2"}
_BUILD = (
    "import sys, numpy as np\n"
    "from mnist_ann.training.evaluation.watch_reference import build_reference\n"
    "folder = sys.argv[1]\n"
    "load = lambda name: np.load(f'{folder}/{name}.npy', allow_pickle=False)\n"
    "probabilities = load('probabilities')\n"
    "reference = build_reference(lambda pixels: probabilities, (load('test'), load('labels')), load('train'))\n"
    "sys.stdout.write(reference.to_json())\n"
)


@pytest.mark.heavy
def test_the_reference_is_the_same_bytes_whatever_kernel_sums_it(tmp_path):
    """The reference is part of model.onnx, whose md5 dvc.lock records: the same data must give the
    same bytes on every CPU. Before, the committed file differed between two machines (float32
    products whose last bits follow the BLAS kernel and threads, and eigenvector entries of unused
    pixels rounding to -0 or +0). Low-rank digit-like images with an unused border, as MNIST's."""
    rng = np.random.default_rng(7)
    basis = rng.normal(size=(48, 28, 28))
    basis[:, :3, :] = basis[:, -3:, :] = basis[:, :, :3] = basis[:, :, -3:] = 0  # pixels never inked
    scales = 0.97 ** np.arange(48) * 0.2

    def images(count: int) -> np.ndarray:
        latent = rng.normal(size=(count, 48)) * scales
        return np.clip(np.einsum("nk,kp->np", latent, basis.reshape(48, -1)) + 0.3, 0, 1).astype(np.float32)

    np.save(tmp_path / "train.npy", images(3000))
    np.save(tmp_path / "test.npy", images(1000))
    np.save(tmp_path / "labels.npy", rng.integers(0, 10, 1000))
    np.save(tmp_path / "probabilities.npy", rng.dirichlet(np.full(10, 0.3), 500).astype(np.float32))
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    settings = _KERNELS + ([_AVX512] if " avx512f" in flags else [])
    outputs = {}
    for setting in settings:
        env = {**os.environ, **setting}
        result = subprocess.run(
            [sys.executable, "-c", _BUILD, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs[tuple(setting.values())] = result.stdout
    assert len(set(outputs.values())) == 1, {k: hash(v) for k, v in outputs.items()}
    assert Reference.from_json(next(iter(outputs.values()))).components.shape == (784, COMPONENTS)
