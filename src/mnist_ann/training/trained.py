"""What the stages after train (evaluate, export) start from: the trained Keras model, the test split
and the id of the pipeline's MLflow run, loaded the same way by both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..tracking import read_run_file
from .data import load_split


@dataclass(frozen=True)
class Trained:
    model: Any  # keras.Model; typed loosely so that importing this module does not import Keras
    x_test: np.ndarray  # model-ready pixels (N, 784) float32
    y_test: np.ndarray  # digits (N,) uint8
    run_id: str | None  # None when the train stage ran without tracking


def load_trained(data: Path, model: Path, run_file: Path) -> Trained:
    """Load the train stage's outputs. Imports TensorFlow (~8 s): stages check their params first."""
    from .model import load_model

    x_test, y_test = load_split(data, "test")
    run_id = read_run_file(run_file)
    return Trained(load_model(model), x_test, y_test, run_id)
