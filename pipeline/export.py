"""export stage: convert the trained Keras model to ONNX and let it through only if onnxruntime gives
the same answers as Keras on the whole test set (the parity gate). Logs the figures and the ONNX
model into the pipeline's MLflow run and registers it as a new model version."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mnist_ann.atomic import atomic_path, write_json
from mnist_ann.data import load_npy
from mnist_ann.entry import run, stage_parser
from mnist_ann.errors import MnistAnnError
from mnist_ann.inference import OnnxModel
from mnist_ann.model import load_model
from mnist_ann.onnx_export import parity, parity_failures, save_onnx, to_onnx
from mnist_ann.params import load_params
from mnist_ann.provenance import repo_root
from mnist_ann.tracking import pipeline_run

log = logging.getLogger("export")


class ParityError(MnistAnnError):
    """The ONNX model does not give the Keras model's answers."""


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "data", "model", "run-file")
    parser.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--metrics", type=Path, required=True, help="JSON file for the parity figures")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    export = params.export
    x_test, y_test = load_npy(args.data / "x_test.npy"), load_npy(args.data / "y_test.npy")
    run_id = json.loads(args.run_file.read_text())["run_id"]
    model = load_model(args.model)

    with pipeline_run(params.mlflow.experiment_name, repo_root(), run_id=run_id) as tracked:
        proto = to_onnx(model, export.opset)
        with atomic_path(args.output) as candidate:  # renamed to --output only if the gate passes
            save_onnx(proto, candidate)
            onnx_model = OnnxModel(candidate)  # the file itself is what is checked
            figures = parity(model, onnx_model, x_test, y_test)
            write_json(args.metrics, {**figures, "opset": export.opset, "atol": export.atol})
            tracked.log_metrics({"parity_max_abs_diff": figures["max_abs_diff"],
                                 "parity_argmax_agreement": figures["argmax_agreement"],
                                 "onnx_test_accuracy": figures["onnx_test_accuracy"]})
            failures = parity_failures(figures, export.atol)
            if failures:
                raise ParityError("ONNX parity gate failed: " + "; ".join(failures))
        log.info("parity on %d test images: max |diff| %.2g, argmax agreement %.4f, ONNX accuracy %.4f",
                 figures["images"], figures["max_abs_diff"], figures["argmax_agreement"], figures["onnx_test_accuracy"])
        example = x_test[:5]
        tracked.log_onnx_model(proto, example, onnx_model.predict(example), export.registered_model)


if __name__ == "__main__":
    run(main)
