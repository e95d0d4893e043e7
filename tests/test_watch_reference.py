"""evaluation/watch_reference.py: the reference the export stage puts in the model. The temperature
is the one that generated the labels, the reference's images are the test split's even half and
its components come from training images, and the stored arrays are those its quantiles measured."""

from __future__ import annotations

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
