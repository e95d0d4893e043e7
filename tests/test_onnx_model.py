"""inference.py: the ONNX model on onnxruntime refuses, in one line, every model it cannot run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import font_digits, lying_model, popen_with_default_signals, predict
from mnist_ann.core.errors import ModelError
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.onnx_model import OnnxModel


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


@pytest.mark.heavy
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


@pytest.mark.heavy
def test_a_model_that_lies_stops_the_run_and_writes_nothing(tmp_path):
    """End to end, through the command: the run stops, exit 1, no output and no temporary file."""
    model, message = tmp_path / "lying.onnx", "NaN or infinite"
    lying_model(model, "nan")
    np.save(tmp_path / "a.npy", font_digits()[:5])
    result = predict("--model", model, tmp_path / "a.npy", "--output", tmp_path / "out.csv")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {model}: ") and message in result.stderr
    assert not (tmp_path / "out.csv").exists() and list(tmp_path.glob(".mnist-ann-*")) == []


# --- issue 26 (1-3): models that are not shaped like ours but could be, and models that never end


def _graph_model(path, nodes, outputs, tensors=(), batch="batch"):
    """A model of `nodes` from `pixels` (batch, 784) float, with `outputs` [(name, type, shape)]."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [batch, 784])],
        [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in outputs],
        list(tensors),
    )
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


def _weights():
    from onnx import numpy_helper

    return numpy_helper.from_array(np.random.default_rng(5).normal(0, 0.1, (784, 10)).astype(np.float32), "w")


def _softmax_model(path, batch="batch", logits_too=False):
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("MatMul", ["pixels", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"]),
    ]
    outputs = [("probabilities", TensorProto.FLOAT, [batch, 10])]
    if logits_too:  # first, as a model exported with both often has them
        outputs.insert(0, ("logits", TensorProto.FLOAT, [batch, 10]))
    return _graph_model(path, nodes, outputs, [_weights()], batch)


def test_a_model_that_takes_one_image_per_call_scores_any_batch(tmp_path):
    pixels = preprocess(font_digits()[:7])
    expected = OnnxModel(_softmax_model(tmp_path / "dynamic.onnx")).predict(pixels)
    fixed = OnnxModel(_softmax_model(tmp_path / "one.onnx", batch=1))
    np.testing.assert_allclose(fixed.predict(pixels), expected, atol=1e-6)
    three = OnnxModel(_softmax_model(tmp_path / "three.onnx", batch=3))  # 7 = 3 + 3 + 1 padded
    np.testing.assert_allclose(three.predict(pixels), expected, atol=1e-6)


def test_of_two_outputs_the_probabilities_are_scored(tmp_path):
    pixels = preprocess(font_digits()[:4])
    both = OnnxModel(_softmax_model(tmp_path / "both.onnx", logits_too=True)).predict(pixels)
    np.testing.assert_allclose(both, OnnxModel(_softmax_model(tmp_path / "one.onnx")).predict(pixels), atol=1e-6)
    np.testing.assert_allclose(both.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("kind", ["logits", "negative"])
def test_a_model_whose_outputs_are_not_probabilities_is_refused(tmp_path, kind):
    """Logits were written clipped to 1.000000 (confidence 16.66 in JSON Lines), and negated scores
    gave the least likely class as the label, exit 0."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("MatMul", ["pixels", "w"], ["scores"])]
    if kind == "negative":
        nodes += [
            helper.make_node("Softmax", ["scores"], ["soft"]),
            helper.make_node("Neg", ["soft"], ["probabilities"]),
        ]
    else:
        nodes += [helper.make_node("Identity", ["scores"], ["probabilities"])]
    model = _graph_model(
        tmp_path / f"{kind}.onnx", nodes, [("probabilities", TensorProto.FLOAT, ["batch", 10])], [_weights()]
    )
    with pytest.raises(ModelError, match="returns no probabilities .*export the model with its softmax"):
        OnnxModel(model).predict(preprocess(font_digits()[:5]))


def test_a_model_with_a_string_output_is_refused_at_load(tmp_path):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Cast", ["pixels"], ["probabilities"], to=TensorProto.STRING)]
    model = _graph_model(tmp_path / "text.onnx", nodes, [("probabilities", TensorProto.STRING, ["batch", 784])])
    with pytest.raises(
        ModelError,
        match=r"model output must be float probabilities \(batch, 10\), found probabilities tensor\(string\)",
    ):
        OnnxModel(model)


def test_a_model_that_onnxruntime_cannot_run_is_one_line(tmp_path):
    """A run-time failure (here: 10 images into a model that takes exactly 3, reshaped past its
    declared batch) was onnxruntime's InvalidArgument traceback."""
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([3, 784], np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["pixels", "shape"], ["three"]),
        helper.make_node("MatMul", ["three", "w"], ["s"]),
    ]
    nodes.append(helper.make_node("Softmax", ["s"], ["probabilities"]))
    model = _graph_model(
        tmp_path / "reshape.onnx", nodes, [("probabilities", TensorProto.FLOAT, ["batch", 10])], [shape, _weights()]
    )
    with pytest.raises(ModelError, match="onnxruntime failed on 10 images: ") as refused:
        OnnxModel(model).predict(preprocess(font_digits()[:10]))
    assert "\n" not in str(refused.value)


def endless_model(path, trips=None):
    """A model whose graph never ends: an ONNX Loop with no trip count whose condition stays true
    (or, with `trips`, one that ends after that many turns)."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, ["batch", 784]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, ["batch", 784]),
        ],
    )
    true = helper.make_tensor("true", TensorProto.BOOL, [], [True])
    count = numpy_helper.from_array(np.array(trips or 0, np.int64), "trips")
    nodes = [
        helper.make_node("Loop", ["trips" if trips else "", "true", "pixels"], ["looped"], body=body),
        helper.make_node("MatMul", ["looped", "w"], ["s"]),
        helper.make_node("Softmax", ["s"], ["probabilities"]),
    ]
    return _graph_model(path, nodes, [("probabilities", TensorProto.FLOAT, ["batch", 10])], [true, count, _weights()])


@pytest.mark.heavy
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_model_that_never_ends_still_obeys_a_signal(tmp_path, sig, code):
    """Issue 26 (2): onnxruntime held the main thread, so only SIGKILL ended the command, and that
    left its temporary file. Now the signal ends it in seconds, with its word and status."""
    model = endless_model(tmp_path / "endless.onnx")
    np.save(tmp_path / "a.npy", font_digits()[:3])
    (tmp_path / "out.csv").write_text("previous results\n")
    command = [sys.executable, "-m", "mnist_ann.cli", "predict", "a.npy", "--model", str(model), "--output", "out.csv"]
    process = popen_with_default_signals(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".mnist-ann-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)  # well inside the endless call
    sent = time.monotonic()
    process.send_signal(sig)
    stderr = process.communicate(timeout=30)[1]
    assert process.returncode == code and time.monotonic() - sent < 10, stderr
    assert "Traceback" not in stderr and (tmp_path / "out.csv").read_text() == "previous results\n"
    assert list(tmp_path.glob(".mnist-ann-*")) == []


def test_a_call_stopped_by_a_signal_leaves_the_model_answering_correctly(tmp_path):
    """The stopped call's late answer ("terminated") must never be taken for the next call's."""
    slow = OnnxModel(endless_model(tmp_path / "slow.onnx", trips=3_000_000))
    pixels = preprocess(font_digits()[:3])
    started = time.monotonic()
    expected = slow.predict(pixels)
    took = time.monotonic() - started
    assert took > 0.5, took  # long enough to be stopped midway
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        signal.setitimer(signal.ITIMER_REAL, took / 4)
        with pytest.raises(KeyboardInterrupt):
            slow.predict(pixels)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    np.testing.assert_array_equal(slow.predict(pixels), expected)
