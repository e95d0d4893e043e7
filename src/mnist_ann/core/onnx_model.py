"""The exported model on onnxruntime, with numpy only: never imports TensorFlow, so batch inference
starts in a fraction of a second."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, first_line
from .files import unreadable_reason
from .mnist import NUM_CLASSES, NUM_PIXELS

INPUT_NAME = "pixels"  # float32 (batch, 784), values in [0, 1]
OUTPUT_NAME = "probabilities"  # float32 (batch, 10)
PROVIDERS = ["CPUExecutionProvider"]  # named explicitly: no silent fallback to another device
# the int8 model's file (training/int8.py): in the export stage's models/int8/, and in a registered
# version's int8/ folder beside its model.onnx
INT8_NAME = "model.int8.onnx"


class OnnxModel:
    """An ONNX model that maps (N, 784) float32 pixels to (N, 10) class probabilities.

    Refuses, with one line, a missing file, a file that is not a valid ONNX model, one whose
    external data would be read from outside its folder (onnxruntime checks that), and one whose
    input or output does not have the shape this project's models have.
    """

    def __init__(self, path: str | Path):
        import onnxruntime

        path = Path(path)
        reason = unreadable_reason(path)
        if reason:
            raise ModelError(f"{path}: {'no such model file' if reason == 'no such file' else reason}")
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
        # Where a model has several outputs (logits and probabilities, say), the one named so.
        output = next((o for o in outputs if o.name == OUTPUT_NAME), outputs[0] if outputs else None)
        if output is None or output.type != "tensor(float)" or not _fits(output.shape, NUM_CLASSES):
            found = f"{output.name} {output.type} {output.shape}" if output else "none"
            raise ModelError(f"{path}: model output must be float probabilities (batch, {NUM_CLASSES}), found {found}")
        self.path = path
        self.input_name, self.output_name = inputs[0].name, output.name
        # the export stage's entries (core/monitoring.py's reference among them), as text by key
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        # A model exported from one example input may take exactly that many rows per call.
        fixed = inputs[0].shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) else None
        self.calls: _CallThread | None = None  # started on the first call

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities for preprocessed pixels (N, 784) float32. A model that returns
        another shape than it declares, NaN/infinite values, or rows that are not probabilities
        (logits, negative scores) is a ModelError: its answers cannot be trusted for any image, so
        the run stops rather than write them."""
        return self.submit(pixels)()

    def submit(self, pixels: np.ndarray) -> Callable[[], np.ndarray]:
        """`predict`, started on the model's own thread: what it returns gives the probabilities
        (checked as `predict` checks them), waiting for them if need be. A caller that prepares the
        next batch (and writes the last one's rows) before it asks keeps onnxruntime busy meanwhile;
        calls run one after another, in the order they were submitted."""
        if self.fixed_batch is not None and len(pixels) != self.fixed_batch:
            found = _in_fixed_batches(self, pixels)
            return lambda: found
        answer = submit_stoppable(self, pixels)

        def checked() -> np.ndarray:
            probabilities = answer()
            if probabilities.shape != (len(pixels), NUM_CLASSES):
                raise ModelError(
                    f"{self.path}: returned {probabilities.shape} for {len(pixels)} images, "
                    f"not ({len(pixels)}, {NUM_CLASSES}) as it declares"
                )
            if not np.isfinite(probabilities).all():
                raise ModelError(f"{self.path}: returned NaN or infinite probabilities")
            _check_probabilities(self.path, probabilities)
            return probabilities

        return checked


# float32 softmax rows sum to 1 within a few ulps; logits or scores miss by far more
SUM_TOLERANCE = 1e-3


def _check_probabilities(path: Path, probabilities: np.ndarray) -> None:
    if not len(probabilities):
        return
    low, high = float(probabilities.min()), float(probabilities.max())
    sums = probabilities.sum(axis=1, dtype=np.float64)
    worst = float(sums[np.abs(sums - 1).argmax()])
    if low < -SUM_TOLERANCE or high > 1 + SUM_TOLERANCE or abs(worst - 1) > SUM_TOLERANCE:
        raise ModelError(
            f"{path}: returns no probabilities (values {low:.4g} to {high:.4g}, a row summing to {worst:.4g}): "
            "export the model with its softmax"
        )


def _in_fixed_batches(model: OnnxModel, pixels: np.ndarray) -> np.ndarray:
    """`pixels` through a model that takes exactly `model.fixed_batch` rows: in runs of that many,
    the last one padded with zeros and its padding's rows dropped."""
    size, count = model.fixed_batch or len(pixels), len(pixels)
    padded = np.zeros((-(-count // size) * size, pixels.shape[1]), np.float32)
    padded[:count] = pixels
    return np.concatenate([model.predict(padded[i : i + size]) for i in range(0, len(padded), size)])[:count]


def submit_stoppable(model: OnnxModel, pixels: np.ndarray) -> Callable[[], np.ndarray]:
    """One onnxruntime call, made on the model's own thread; what it returns waits for the answer.
    The caller waits where a signal can reach it, and a signal (or any exception) there tells
    onnxruntime to stop every call still running or queued. Run on the main thread, a model that
    never ends (an ONNX Loop without end) ignored SIGTERM and SIGINT. Errors that onnxruntime raises
    for this input (a failed allocation, a shape it refuses) are the model's, in one line."""
    import onnxruntime

    if model.calls is None:
        model.calls = _CallThread(model)
    calls, options = model.calls, onnxruntime.RunOptions()
    reply = calls.submit(pixels, options)

    def answer() -> np.ndarray:
        try:
            rows, error = reply.get()  # interruptible: a signal's handler runs here; what it raises ends the wait
        except BaseException:
            calls.stop_all()  # onnxruntime checks `terminate` between nodes, a Loop's iterations included
            if model.calls is calls:
                model.calls = None  # that thread answers the stopped calls later: no later call may read them
            raise
        if error is not None:
            raise ModelError(f"{model.path}: onnxruntime failed on {len(pixels)} images: {_ort_reason(error)}")
        if not isinstance(rows, np.ndarray) or rows.dtype.kind != "f":
            kind = f"{type(rows).__name__} {getattr(rows, 'dtype', '')}"
            raise ModelError(f"{model.path}: returned {kind}, not floats")
        return rows

    return answer


class _CallThread:
    """A thread that makes a model's onnxruntime calls one at a time, in the order submitted, each
    answered on its own queue. One per model, kept: a new thread per call cost 0.1-0.6 ms, a
    twentieth of a 256-image call (measured on 2 cores)."""

    def __init__(self, model: OnnxModel):
        import queue
        import threading

        self._model = model
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: list = []  # the RunOptions of the calls submitted and not yet answered
        threading.Thread(target=self._serve, name="onnxruntime", daemon=True).start()

    def submit(self, pixels: np.ndarray, options) -> Any:
        import queue

        reply: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            self._running.append(options)
        self._calls.put((pixels, options, reply))
        return reply

    def stop_all(self) -> None:
        with self._lock:
            for options in self._running:
                options.terminate = True

    def _serve(self) -> None:
        model = self._model
        while True:
            pixels, options, reply = self._calls.get()
            found: tuple[Any, Exception | None]
            try:
                found = (model.session.run([model.output_name], {model.input_name: pixels}, options)[0], None)
            except Exception as exc:  # onnxruntime's own classes, for this input
                found = (None, exc)
            with self._lock:
                self._running.remove(options)
            reply.put(found)


def _fits(shape: list, width: int) -> bool:
    return len(shape) == 2 and shape[1] == width and not (isinstance(shape[0], int) and shape[0] < 1)


def _ort_reason(exc: Exception) -> str:
    # "[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from x failed:This is an invalid model..."
    return first_line(exc, limit=1000).split(" : ", 3)[-1][:300]
