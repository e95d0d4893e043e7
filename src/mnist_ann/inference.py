"""The exported model on onnxruntime, with numpy only: never imports TensorFlow, so batch inference
starts in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import NUM_CLASSES, NUM_PIXELS
from .errors import ModelError, first_line

INPUT_NAME = "pixels"  # float32 (batch, 784), values in [0, 1]
OUTPUT_NAME = "probabilities"  # float32 (batch, 10)
PROVIDERS = ["CPUExecutionProvider"]  # named explicitly: no silent fallback to another device


class OnnxModel:
    """An ONNX model that maps (N, 784) float32 pixels to (N, 10) class probabilities.

    Refuses, with one line, a missing file, a file that is not a valid ONNX model, one whose
    external data would be read from outside its folder (onnxruntime checks that), and one whose
    input or output does not have the shape this project's models have.
    """

    def __init__(self, path: str | Path):
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: warnings would go to stderr on every start
        # Idle worker threads would otherwise spin between calls, taking the cores that the image
        # decoders need; a whole batch per call keeps them busy while it lasts anyway.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=PROVIDERS)
        except Exception as exc:  # onnxruntime raises its own classes for each failure kind
            raise ModelError(f"{path}: not a usable ONNX model: {_ort_reason(exc)}") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)" or not _fits(inputs[0].shape, NUM_PIXELS):
            found = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise ModelError(f"{path}: model input must be one float tensor (batch, {NUM_PIXELS}), found {found}")
        if not outputs or not _fits(outputs[0].shape, NUM_CLASSES):
            raise ModelError(
                f"{path}: model output must be (batch, {NUM_CLASSES}), found {outputs[0].shape if outputs else 'none'}"
            )
        self.path = path
        self.input_name, self.output_name = inputs[0].name, outputs[0].name

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities for preprocessed pixels (N, 784) float32. A model that returns
        another shape than it declares, or NaN/infinite values, is a ModelError: its answers
        cannot be trusted for any image, so the run stops rather than write them."""
        probabilities = self.session.run([self.output_name], {self.input_name: pixels})[0]
        if probabilities.shape != (len(pixels), NUM_CLASSES):
            raise ModelError(
                f"{self.path}: returned {probabilities.shape} for {len(pixels)} images, "
                f"not ({len(pixels)}, {NUM_CLASSES}) as it declares"
            )
        if not np.isfinite(probabilities).all():
            raise ModelError(f"{self.path}: returned NaN or infinite probabilities")
        return probabilities


def _fits(shape: list, width: int) -> bool:
    return len(shape) == 2 and shape[1] == width and not (isinstance(shape[0], int) and shape[0] < 1)


def _ort_reason(exc: Exception) -> str:
    # "[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from x failed:This is an invalid model..."
    return first_line(exc, limit=1000).split(" : ", 3)[-1][:300]
