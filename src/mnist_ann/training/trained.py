"""What the stages after train (evaluate, export) start from: the trained Keras model, the test split
and the sha256 of the model file (how they find the pipeline's MLflow run), loaded the same way by
both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import file_sha256
from .data import load_split


@dataclass(frozen=True)
class Trained:
    model: Any  # keras.Model; typed loosely so that importing this module does not import Keras
    x_test: np.ndarray  # model-ready pixels (N, 784) float32
    y_test: np.ndarray  # digits (N,) uint8
    model_sha256: str  # of the .keras file: the train stage tagged its run with it


def load_trained(data: Path, model: Path) -> Trained:
    """Load the train stage's outputs. Imports TensorFlow (~8 s): stages check their params first."""
    from .model import load_model

    x_test, y_test = load_split(data, "test")
    keras_model = load_model(model)  # checks the file (size, format) before it is hashed
    return Trained(keras_model, x_test, y_test, file_sha256(model))
