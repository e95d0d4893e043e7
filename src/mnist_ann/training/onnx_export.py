"""Keras model -> ONNX, and the parity figures that prove the two give the same answers.

`tf2onnx.convert.from_keras` fails on Keras 3 models (`KeyError: 'keras_tensor_N'`,
onnx/tensorflow-onnx#2448), so the model is wrapped in a `tf.function` with a named input signature
and converted through `from_function`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx

from ..core.files import write_bytes
from ..core.mnist import NUM_PIXELS
from ..core.onnx_model import INPUT_NAME, OUTPUT_NAME, OnnxModel
from .model import keras, predict_probabilities, tf

BATCH_DIM = "batch"


def to_onnx(model: keras.Model, opset: int) -> onnx.ModelProto:
    """The model as ONNX: input `pixels` float32 (batch, 784), output `probabilities` (batch, 10),
    batch size free; checked with onnx's full checker; the same bytes for the same weights."""
    import tf2onnx

    # tf2onnx narrates each conversion step at INFO (versions, opset, constant folding, optimizer
    # passes): five lines per export that say nothing to the user. Its warnings still show.
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    signature = (tf.TensorSpec((None, NUM_PIXELS), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=signature, autograph=False)
    def serve(pixels):
        return {OUTPUT_NAME: model(pixels, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset)
    _make_reproducible(proto)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _make_reproducible(proto: onnx.ModelProto) -> None:
    """tf2onnx names the batch dimension and documents the graph with per-process counters
    (`unk__11`, `__inference_serve_305`); fixed names make equal weights give equal bytes, so DVC
    sees no change when nothing changed."""
    proto.doc_string = ""
    proto.graph.doc_string = ""
    proto.graph.name = "mnist_ann"
    for value in [*proto.graph.input, *proto.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM


def set_metadata(proto: onnx.ModelProto, entries: dict[str, str]) -> None:
    """Put `entries` in the model's metadata (metadata_props; onnxruntime gives them back as the
    session's custom metadata map), replacing entries of the same key."""
    kept = {entry.key: entry.value for entry in proto.metadata_props}
    kept.update(entries)
    onnx.helper.set_model_props(proto, kept)


def save_onnx(proto: onnx.ModelProto, path: str | Path) -> None:
    """Write the model as one self-contained file (no external data), atomically."""
    write_bytes(path, proto.SerializeToString())


def parity(model: keras.Model, onnx_model: OnnxModel, x: np.ndarray, labels: np.ndarray) -> dict:
    """Keras and onnxruntime on the same images: the largest absolute difference of any class
    probability, the share of images where both pick the same digit, and both accuracies."""
    expected = predict_probabilities(model, x)
    actual = onnx_model.predict(x)
    if actual.shape != expected.shape:
        raise ValueError(f"onnxruntime gave {actual.shape}, Keras {expected.shape}")
    agreement = float((actual.argmax(axis=1) == expected.argmax(axis=1)).mean())
    return {
        "max_abs_diff": float(np.abs(actual.astype(np.float64) - expected).max()),
        "argmax_agreement": agreement,
        "onnx_test_accuracy": float((actual.argmax(axis=1) == labels).mean()),
        "keras_test_accuracy": float((expected.argmax(axis=1) == labels).mean()),
        "images": len(x),
    }


def export_metrics(figures: dict, opset: int, atol: float) -> dict:
    """metrics/export.json: the parity figures, and the difference and tolerance again in millionths
    of a probability, since `dvc metrics show/diff` print 5 decimals and would show 2.3e-06 as 0.0."""
    return {
        **figures,
        "max_abs_diff_ppm": round(figures["max_abs_diff"] * 1e6, 4),
        "opset": opset,
        "atol": atol,
        "atol_ppm": round(atol * 1e6, 4),
    }


def tracked_parity(figures: dict) -> dict[str, float]:
    """The parity figures under the names that the run's metrics and the registered version's tags
    (and its description, tracking/registry.py) give them."""
    return {"parity_max_abs_diff": figures["max_abs_diff"], "parity_argmax_agreement": figures["argmax_agreement"]}


def parity_failures(figures: dict, atol: float) -> list[str]:
    """What fails the parity gate, in words; empty when ONNX and Keras agree."""
    failures = []
    if not figures["max_abs_diff"] <= atol:  # `not <=` also catches NaN
        failures.append(
            f"max |Keras - ONNX| probability difference {figures['max_abs_diff']:.3g} > export.atol {atol:g}"
        )
    if figures["argmax_agreement"] < 1.0:
        disagreeing = round((1 - figures["argmax_agreement"]) * figures["images"])
        failures.append(f"{disagreeing} of {figures['images']} test images get a different digit")
    return failures
