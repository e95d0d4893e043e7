"""Scores of predicted class probabilities against true labels, with numpy only."""

from __future__ import annotations

import numpy as np

from ...core.mnist import NUM_CLASSES

# Keras clips probabilities to [eps, 1 - eps] before the log in cross-entropy; the same here, so the
# loss matches what Keras reports.
_EPSILON = 1e-7


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """counts[true, predicted] over the 10 digits."""
    pairs = labels.astype(np.int64) * NUM_CLASSES + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)


def score(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Test loss and accuracy, per-digit precision and recall, and the confusion matrix.

    A digit never predicted has precision 0 (not NaN), so the metrics file stays valid JSON.
    """
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted)
    correct = np.diag(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(correct / matrix.sum(axis=0))
        recall = np.nan_to_num(correct / matrix.sum(axis=1))
    return {
        "loss": float(losses(probabilities, labels).mean()),
        "accuracy": float((predicted == labels).mean()),
        "precision": {str(d): float(precision[d]) for d in range(NUM_CLASSES)},
        "recall": {str(d): float(recall[d]) for d in range(NUM_CLASSES)},
        "confusion_matrix": matrix.tolist(),
    }


def losses(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy per image, as Keras computes it (the mean is the test loss)."""
    true_probability = np.clip(probabilities[np.arange(len(labels)), labels], _EPSILON, 1 - _EPSILON)
    return -np.log(true_probability.astype(np.float64))


def most_confident_mistakes(probabilities: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The indices of up to `count` misread images, the surest first: the mistakes a threshold on
    confidence would not catch, which the model card shows."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]
