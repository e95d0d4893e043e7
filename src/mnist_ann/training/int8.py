"""The int8 model (issue 40): the exported float ONNX model quantized with onnxruntime's own tools,
and the gate it passes before export writes it.

How, chosen by measurement (the seed's model, the 10k test set, batch 10k, 2 cores of an AMD EPYC
with AVX-512 VNNI; docs/pipeline.md#the-int8-model has the table):

- **Static QDQ** quantization of every MatMul: 2.3-2.8x the float model's speed, argmax agreement
  99.89%, test accuracy 0.05 point below. Dynamic quantization was as fast and as close, but it
  quantizes each call's activations by that call's own range: an image's answer would depend on the
  images scored beside it.
- **Activations uint8, weights int8 per output channel.** uint8 weights ran at 1.35x only (VNNI
  multiplies uint8 by int8); int8 activations at 2.0x.
- **The MatMuls' outputs stay float**: quantized too (and the softmax's output with them), the
  probabilities come in steps of 1/255, digits tie, and agreement fell to 99.55-99.65%.
- **Calibration on 2,000 training images** (every 30th): the test set stays the gate's. The ranges
  of the hidden layers' activations are rounded up to 3 significant digits: they come from
  onnxruntime's float sums, which differ in their last bits between CPUs, and the file should not.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..core.files import atomic_path
from ..core.onnx_model import INPUT_NAME, INT8_NAME, OnnxModel

CALIBRATION_STRIDE, CALIBRATION_IMAGES = 30, 2000  # every 30th training image, 2,000 of them
SCALE_DIGITS = 3  # significant digits kept of an activation's quantization scale


def calibration_images(train_pixels: np.ndarray) -> np.ndarray:
    """The training images the quantizer measures activations on."""
    return train_pixels[::CALIBRATION_STRIDE][:CALIBRATION_IMAGES]


def quantize(float_model: Path, calibration: np.ndarray) -> onnx.ModelProto:
    """The int8 model of the float ONNX file `float_model` (see the module's docstring), with the
    float model's metadata (the monitoring reference among it)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration[i : i + 500] for i in range(0, len(calibration), 500))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory(prefix="mnist-ann-int8-") as folder, _quiet_quantizer():
        quantized = Path(folder) / "model.int8.onnx"
        quantize_static(
            str(float_model),
            str(quantized),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]},
        )
        proto = onnx.load(str(quantized))
    _round_activation_scales(proto)
    metadata = {entry.key: entry.value for entry in onnx.load(str(float_model)).metadata_props}
    onnx.helper.set_model_props(proto, metadata)
    proto.graph.name = "mnist_ann_int8"
    onnx.checker.check_model(proto, full_check=True)
    return proto


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer advises "pre-processing" on the root logger at WARNING every time; its
    advice is for convolutional networks, and says nothing to a user of this one."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _round_activation_scales(proto: onnx.ModelProto) -> None:
    """Each hidden activation's scale rounded up to SCALE_DIGITS significant digits (a range a
    hair wider); the pixels' (1/255: their range is the data's, 0 to 1, exact on every CPU) kept."""
    initializers = {tensor.name: tensor for tensor in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in initializers or node.input[0] == INPUT_NAME:
            continue
        tensor = initializers[node.input[1]]
        scale = float(numpy_helper.to_array(tensor))
        exponent = math.floor(math.log10(scale)) - SCALE_DIGITS + 1
        rounded = np.float32(math.ceil(round(scale / 10.0**exponent, 6)) * 10.0**exponent)
        tensor.CopyFrom(numpy_helper.from_array(np.asarray(rounded, np.float32), tensor.name))


def int8_figures(float_probabilities: np.ndarray, int8_probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """The int8 model against the float one on the same test images: how often both pick the same
    digit, its test accuracy, and the largest difference of any class probability."""
    return {
        "int8_agreement": float((int8_probabilities.argmax(axis=1) == float_probabilities.argmax(axis=1)).mean()),
        "int8_test_accuracy": float((int8_probabilities.argmax(axis=1) == labels).mean()),
        "int8_max_abs_diff": float(np.abs(int8_probabilities.astype(np.float64) - float_probabilities).max()),
    }


def int8_failures(figures: dict, float_accuracy: float, min_agreement: float, max_accuracy_drop: float) -> list[str]:
    """Why the int8 model may not be written, in words; empty when it passes."""
    failures = []
    if not figures["int8_agreement"] >= min_agreement:  # `not >=` catches NaN
        failures.append(
            f"it picks the float model's digit on {figures['int8_agreement']:.2%} of the test set, "
            f"under export.int8_min_agreement {min_agreement:.2%}"
        )
    drop = float_accuracy - figures["int8_test_accuracy"]
    if not drop <= max_accuracy_drop + 1e-12:  # a drop of exactly the allowed points passes
        failures.append(
            f"its test accuracy {figures['int8_test_accuracy']:.4f} is {drop * 100:.2f} points below the float "
            f"model's {float_accuracy:.4f}, more than export.int8_max_accuracy_drop {max_accuracy_drop:g}"
        )
    return failures


@dataclass(frozen=True)
class Int8Export:
    """What export_int8 did: the figures, why the gate refused the model (empty: it passed), and
    where the file is (None when refused)."""

    figures: dict
    failures: list[str]
    path: Path | None


class _RefusedError(Exception):
    pass


def export_int8(
    float_model: Path,
    folder: Path,
    calibration: np.ndarray,
    test: tuple[np.ndarray, np.ndarray],
    *,
    min_agreement: float,
    max_accuracy_drop: float,
) -> Int8Export:
    """Quantize the float ONNX file `float_model`, check the result on the `test` set (pixels,
    labels) against the float model, and write it as `folder`/model.int8.onnx only if the gate
    passes; when it refuses, the folder is left without one (a former int8 model belonged to a
    former float model). The file is measured as written, under its temporary name."""
    pixels, labels = test
    float_probabilities = OnnxModel(float_model).predict(pixels)
    float_accuracy = float((float_probabilities.argmax(axis=1) == labels).mean())
    proto, target = quantize(float_model, calibration), folder / INT8_NAME
    figures: dict = {}
    failures: list[str] = []
    try:
        with atomic_path(target) as candidate:
            candidate.write_bytes(proto.SerializeToString())
            figures = int8_figures(float_probabilities, OnnxModel(candidate).predict(pixels), labels)
            figures["int8_size_ratio"] = candidate.stat().st_size / float_model.stat().st_size
            failures = int8_failures(figures, float_accuracy, min_agreement, max_accuracy_drop)
            if failures:
                raise _RefusedError
    except _RefusedError:
        target.unlink(missing_ok=True)
    figures["int8_written"] = 0 if failures else 1
    return Int8Export(figures, failures, None if failures else target)
