"""training/int8.py: the float ONNX model quantized (real onnxruntime tools, real sessions), the
same bytes every time, and the gate refusing a model that quantization breaks."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from helpers import DenseNetwork, font_digits
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.monitoring import METADATA_KEY
from mnist_ann.core.onnx_model import OnnxModel
from mnist_ann.training.int8 import SCALE_DIGITS, calibration_images, int8_failures, int8_figures, quantize


def _digits(count: int) -> np.ndarray:
    return preprocess(np.concatenate([font_digits()] * math.ceil(count / len(font_digits())))[:count])


def _int8(source, tmp_path, name="model.int8.onnx"):
    proto = quantize(source, calibration_images(_digits(3000)))
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return proto, OnnxModel(path)


def test_the_int8_model_answers_as_the_float_one_and_is_the_same_bytes_every_time(monitored, tmp_path):
    proto, int8 = _int8(monitored, tmp_path)
    again, _ = _int8(monitored, tmp_path, "again.onnx")
    assert proto.SerializeToString() == again.SerializeToString()
    onnx.checker.check_model(proto, full_check=True)
    kinds = {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "MatMul"} <= kinds
    # the float model's metadata (the monitoring reference) travels with it
    assert int8.metadata[METADATA_KEY] == OnnxModel(monitored).metadata[METADATA_KEY]
    pixels = _digits(400)
    expected = OnnxModel(monitored).predict(pixels)
    figures = int8_figures(expected, int8.predict(pixels), np.arange(400) % 10)
    assert figures["int8_agreement"] >= 0.99 and figures["int8_max_abs_diff"] < 0.05, figures
    assert figures["int8_test_accuracy"] == pytest.approx(
        float((expected.argmax(1) == np.arange(400) % 10).mean()), abs=0.02
    )


def test_every_hidden_activations_scale_keeps_three_digits_and_the_pixels_their_exact_step(monitored, tmp_path):
    """The hidden activations' ranges come from onnxruntime's float sums, whose last bits differ
    between CPUs: rounded, the file is the same on every machine. Pixels are k/255 exactly."""
    proto, _ = _int8(monitored, tmp_path)
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in proto.graph.initializer}
    activations = [n for n in proto.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in initializers]
    assert len(activations) == 3  # the pixels, and the two hidden layers' inputs
    for node in activations:
        scale = float(initializers[node.input[1]])
        if node.input[0] == "pixels":
            assert np.float32(scale) == np.float32(1 / 255)
        else:
            digits = scale / 10.0 ** (math.floor(math.log10(scale)) - SCALE_DIGITS + 1)
            assert digits == pytest.approx(round(digits), abs=1e-3), scale


def _fitted_network(loud_unit: bool) -> DenseNetwork:
    """A network that reads the 40 font digits right with a wide margin (its last layer fitted by
    least squares): a model the gate passes. With `loud_unit`, one first-layer unit a thousand
    times louder than the rest (its share of the next layer scaled back, so the float model is
    unchanged in kind): its layer's one activation scale is set by that unit, and every other unit
    is quantized to a step or two."""
    network = DenseNetwork(hidden_units=(64, 32))
    if loud_unit:
        network.layers[0][0][:, 0] *= 1000
        network.layers[1][0][0, :] /= 1000
    hidden, labels = _digits(40), np.arange(40) % 10
    for weights, bias in network.layers[:-1]:
        hidden = np.maximum(hidden @ weights + bias, 0)
    solution, *_ = np.linalg.lstsq(np.c_[hidden, np.ones(40)], np.eye(10)[labels] * 20 - 10, rcond=None)
    network.layers[-1] = (solution[:-1].astype(np.float32), solution[-1].astype(np.float32))
    return network


@pytest.mark.parametrize("loud_unit", [False, True], ids=["a model quantization keeps", "one it breaks"])
def test_the_gate_refuses_a_model_that_quantization_breaks(tmp_path, loud_unit):
    source = _fitted_network(loud_unit).save_onnx(tmp_path / "float.onnx")
    _, int8 = _int8(source, tmp_path)
    pixels, labels = _digits(400), np.arange(400) % 10
    float_probabilities = OnnxModel(source).predict(pixels)
    float_accuracy = float((float_probabilities.argmax(1) == labels).mean())
    assert float_accuracy == 1.0  # the float model reads them all, either way
    figures = int8_figures(float_probabilities, int8.predict(pixels), labels)
    failures = int8_failures(figures, float_accuracy, min_agreement=0.998, max_accuracy_drop=0.001)
    if not loud_unit:
        assert failures == [] and figures["int8_agreement"] == 1.0, figures
        return
    assert figures["int8_agreement"] < 0.9 and len(failures) == 2, figures
    assert "under export.int8_min_agreement 99.80%" in failures[0] and "points below" in failures[1]
    assert int8_failures(figures, float_accuracy, min_agreement=0.0, max_accuracy_drop=1.0) == []  # it reads them


def test_the_gate_names_each_threshold_it_misses():
    figures = {"int8_agreement": 0.9990, "int8_test_accuracy": 0.9670, "int8_max_abs_diff": 0.1}
    (only,) = int8_failures(figures, 0.9690, min_agreement=0.998, max_accuracy_drop=0.001)
    assert only.startswith("its test accuracy 0.9670 is 0.20 points below the float model's 0.9690")
    assert int8_failures(figures | {"int8_test_accuracy": 0.9680}, 0.9690, 0.998, 0.001) == []  # exactly 0.1 point
    nan = int8_failures(figures | {"int8_agreement": float("nan")}, 0.9690, 0.998, 0.01)
    assert len(nan) == 1 and nan[0].startswith("it picks the float model's digit on nan% of the test set")


@pytest.mark.parametrize("loud_unit", [False, True], ids=["passed: written", "refused: none, the former one gone"])
def test_export_int8_writes_the_file_only_when_the_gate_passes(tmp_path, loud_unit):
    from mnist_ann.training.int8 import export_int8

    source = _fitted_network(loud_unit).save_onnx(tmp_path / "model.onnx")
    folder = tmp_path / "int8"
    folder.mkdir()
    (folder / "model.int8.onnx").write_bytes(b"the former float model's int8 model")
    done = export_int8(
        source, folder, calibration_images(_digits(3000)), (_digits(400), np.arange(400) % 10),
        min_agreement=0.998, max_accuracy_drop=0.001,
    )  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == ([] if loud_unit else ["model.int8.onnx"])
    assert done.figures["int8_written"] == (0 if loud_unit else 1) and bool(done.failures) == loud_unit
    if not loud_unit:
        assert done.path == folder / "model.int8.onnx" and OnnxModel(done.path).predict(_digits(1)).shape == (1, 10)
        assert 0.2 < done.figures["int8_size_ratio"] < 0.5  # int8 weights: about a quarter, and the graph's nodes
    else:
        assert done.path is None
