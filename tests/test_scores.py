"""Test-set scores from probabilities, checked against hand counts and against Keras itself."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_ann.training.evaluation.scores import confusion_matrix, most_confident_mistakes, score


def test_confusion_matrix_counts_pairs():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    matrix = confusion_matrix(labels, predicted)
    assert matrix.shape == (10, 10) and matrix.sum() == 6
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[2, 2] == 2 and matrix[2, 0] == 1


def test_scores_match_hand_counts():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    probabilities = np.full((6, 10), 0.01, dtype=np.float32)
    probabilities[np.arange(6), predicted] = 0.91
    scores = score(probabilities, labels)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision"]["0"] == pytest.approx(1 / 2)  # predicted 0 twice, right once
    assert scores["recall"]["2"] == pytest.approx(2 / 3)
    assert scores["precision"]["5"] == 0.0 and scores["recall"]["5"] == 0.0  # never seen: 0, not NaN
    assert np.array(scores["confusion_matrix"]).sum() == 6


@pytest.mark.heavy
def test_loss_matches_keras_categorical_crossentropy():
    from mnist_ann.training.model import keras

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities[0] = np.eye(10, dtype=np.float32)[3]  # a certain, wrong prediction: clipped, not inf
    labels = rng.integers(0, 10, 50)
    reference = keras.losses.CategoricalCrossentropy()(np.eye(10)[labels], probabilities)
    assert score(probabilities, labels)["loss"] == pytest.approx(float(reference), rel=1e-5)


def test_most_confident_mistakes_are_the_wrong_answers_surest_first():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(10), size=500).astype(np.float32)
    labels = rng.integers(0, 10, 500)
    labels[:5] = probabilities[:5].argmax(axis=1)  # some right answers, never picked
    picked = most_confident_mistakes(probabilities, labels, 7)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    sure = probabilities.max(axis=1)
    assert len(picked) == 7 and set(picked) <= set(wrong)
    assert list(sure[picked]) == sorted(sure[picked], reverse=True)
    assert sure[picked].min() >= np.sort(sure[wrong])[-7]  # no surer mistake left out
    assert len(most_confident_mistakes(probabilities[:5], labels[:5], 7)) == 0
