"""ONNX export: names, free batch size, reproducible bytes, and the Keras-vs-onnxruntime parity gate
(the reference-vs-implementation test of this project)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from helpers import tiny_mnist
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.onnx_model import OnnxModel
from mnist_ann.training.model import build_model, make_deterministic
from mnist_ann.training.onnx_export import parity, parity_failures, save_onnx, to_onnx


@pytest.fixture(scope="module")
def keras_model():
    make_deterministic(3)
    return build_model(
        hidden_units=(32, 16), activation="relu", optimizer="adam", learning_rate=0.01, loss="categorical_crossentropy"
    )


def test_names_shapes_and_opset(keras_model):
    proto = to_onnx(keras_model, opset=17)
    (graph_input,), (graph_output,) = proto.graph.input, proto.graph.output
    assert graph_input.name == "pixels" and graph_output.name == "probabilities"
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    assert dims(graph_input) == ["batch", 784] and dims(graph_output) == ["batch", 10]
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17


@pytest.mark.parametrize("opset", [13, 18])
def test_other_opsets_convert(keras_model, opset):
    assert {o.domain: o.version for o in to_onnx(keras_model, opset).opset_import}[""] == opset


def test_same_weights_same_bytes(keras_model, tmp_path):
    save_onnx(to_onnx(keras_model, 17), tmp_path / "a.onnx")
    save_onnx(to_onnx(keras_model, 17), tmp_path / "b.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_parity_with_keras(keras_model, tmp_path):
    save_onnx(to_onnx(keras_model, 17), tmp_path / "model.onnx")
    arrays = tiny_mnist(test=300)
    x, labels = preprocess(arrays["x_test"]), arrays["y_test"]
    figures = parity(keras_model, OnnxModel(tmp_path / "model.onnx"), x, labels)
    assert figures["images"] == 300
    assert figures["max_abs_diff"] <= 1e-6
    assert figures["argmax_agreement"] == 1.0
    assert figures["onnx_test_accuracy"] == figures["keras_test_accuracy"]
    assert parity_failures(figures, atol=1e-5) == []
    # batch size is free: one image and an odd batch give the same rows
    model = OnnxModel(tmp_path / "model.onnx")
    np.testing.assert_array_equal(model.predict(x[:1]), model.predict(x[:7])[:1])


def test_gate_names_each_failure():
    figures = {"max_abs_diff": 3e-4, "argmax_agreement": 0.9998, "images": 10000}
    assert parity_failures(figures, atol=1e-5) == [
        "max |Keras - ONNX| probability difference 0.0003 > export.atol 1e-05",
        "2 of 10000 test images get a different digit",
    ]
    assert parity_failures({**figures, "max_abs_diff": float("nan"), "argmax_agreement": 1.0}, 1e-5)
