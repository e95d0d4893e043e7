"""inference.py: the ONNX model on onnxruntime refuses, in one line, every model it cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import font_digits, lying_model, predict
from mnist_ann.data import preprocess
from mnist_ann.errors import ModelError
from mnist_ann.inference import OnnxModel


def _onnx_with_input_width(path, width):
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((width, 10), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["pixels", "w"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        [weights],
    )
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


def _onnx_with_outside_data(path):
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((784, 10), np.float32), "w")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../outside.bin"), ("offset", "0"), ("length", str(784 * 40))):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    (path.parent.parent / "outside.bin").write_bytes(np.ones((784, 10), np.float32).tobytes())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["pixels", "w"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        [weights],
    )
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


@pytest.mark.parametrize(
    ("model_kind", "message"),
    [
        ("missing", "no such model file"),
        ("garbage", "not a usable ONNX model"),
        ("wrong-input", "model input must be one float tensor (batch, 784), found pixels tensor(float) ['batch', 100]"),
        ("outside-data", "External data path"),
    ],
)
def test_an_unusable_model_is_refused_in_one_line(tmp_path, model_kind, message):
    model = _unusable(tmp_path, model_kind)
    with pytest.raises(ModelError) as refused:
        OnnxModel(model)
    assert str(refused.value).startswith(f"{model}: ") and message in str(refused.value)
    assert "\n" not in str(refused.value)


def _unusable(tmp_path, model_kind):
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "model.onnx"
    if model_kind == "garbage":
        model.write_bytes(b"\x08\x07garbage")
    elif model_kind == "wrong-input":
        _onnx_with_input_width(model, 100)
    elif model_kind == "outside-data":
        _onnx_with_outside_data(model)
    return model


def test_an_unusable_model_is_exit_1_and_writes_nothing(tmp_path):
    """End to end, through the command: one line, exit 1, the previous output as it was."""
    model = _unusable(tmp_path, "garbage")
    message = "not a usable ONNX model"
    np.save(tmp_path / "a.npy", font_digits()[:2])
    (tmp_path / "out.csv").write_text("previous results\n")
    result = predict("--model", model, tmp_path / "a.npy", "--output", tmp_path / "out.csv")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {model}: ")
    assert message in result.stderr
    assert (tmp_path / "out.csv").read_text() == "previous results\n"


@pytest.mark.parametrize(("kind", "message"), [("short", "returned (1, 10) for 5 images"), ("nan", "NaN or infinite")])
def test_a_model_that_lies_is_a_model_error(tmp_path, kind, message):
    """Issue 11: rows went missing, or NaN was printed as probabilities, with exit 0."""
    model = tmp_path / "lying.onnx"
    lying_model(model, kind)
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OnnxModel(model).predict(preprocess(font_digits()[:5]))


def test_a_model_that_lies_stops_the_run_and_writes_nothing(tmp_path):
    """End to end, through the command: the run stops, exit 1, no output and no temporary file."""
    model, message = tmp_path / "lying.onnx", "NaN or infinite"
    lying_model(model, "nan")
    np.save(tmp_path / "a.npy", font_digits()[:5])
    result = predict("--model", model, tmp_path / "a.npy", "--output", tmp_path / "out.csv")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {model}: ") and message in result.stderr
    assert not (tmp_path / "out.csv").exists() and list(tmp_path.glob(".mnist-ann-*")) == []
