"""export stage: convert the trained Keras model to ONNX and let it through only if onnxruntime gives
the same answers as Keras on the whole test set (the parity gate). Writes the int8 model beside it
when that passes its own gate against the float model (training/int8.py; refused: one line, the
float export stands). Logs the figures and the ONNX model into the pipeline's MLflow run and
registers it as a new model version (the int8 file with it), which becomes the champion if it passes
the promotion gate against the current one (params.yaml's `promote`); a refused promotion is logged,
not a failed stage."""

from __future__ import annotations

from stage_start import start_stage

start_stage()  # first: Ctrl-C during the imports below exits 130, no traceback

import argparse
import logging
from collections.abc import Sequence
from dataclasses import asdict, replace

from mnist_ann.core.errors import ModelError
from mnist_ann.core.files import atomic_path, write_json
from mnist_ann.core.monitoring import METADATA_KEY
from mnist_ann.core.onnx_model import PROVIDERS, OnnxModel
from mnist_ann.core.process import run_main
from mnist_ann.tracking import CardRequest, OnnxVersion, repo_root, tracked_stage
from mnist_ann.training.card import card_files, run_lineage, version_facts, workspace_facts
from mnist_ann.training.data import load_split
from mnist_ann.training.errors import ParityError
from mnist_ann.training.evaluation.watch_reference import build_reference
from mnist_ann.training.harness import stage, start_keras
from mnist_ann.training.int8 import Int8Export, calibration_images, export_int8
from mnist_ann.training.lineage import train_record
from mnist_ann.training.params import Params, flatten
from mnist_ann.training.trained import Trained, load_trained

log = logging.getLogger("export")


def main(argv: Sequence[str] | None = None) -> None:
    paths = ("data", "model", "history", "metrics")
    own = {"output": "the .onnx file to write", "int8": "the folder of the int8 model (empty when its gate refuses it)"}
    with stage("export", __doc__, argv, paths, own=own) as harness:
        _export(harness.args, harness.params)


def _export(args: argparse.Namespace, params: Params) -> None:
    export = params.export
    start_keras()  # TensorFlow: imported once the params are known good
    trained = load_trained(args.data, args.model)
    from mnist_ann.training.onnx_export import (
        export_metrics,
        parity,
        parity_failures,
        save_onnx,
        set_metadata,
        to_onnx,
        tracked_parity,
    )

    restore = train_record(params, args.params, args.history)  # used only where the store lacks train's run
    experiment, model_sha256 = params.mlflow.experiment_name, trained.model_sha256
    with tracked_stage(experiment, stage="export", model_sha256=model_sha256, restore=restore) as run:
        log.info("converting %s to ONNX (opset %d)", args.model, export.opset)
        proto = to_onnx(trained.model, export.opset)
        with atomic_path(args.output) as candidate:  # renamed to --output only if the gate passes
            save_onnx(proto, candidate)
            onnx_model = OnnxModel(candidate)  # the file itself is what is checked
            figures = parity(trained.model, onnx_model, trained.x_test, trained.y_test)
            write_json(args.metrics, export_metrics(figures, export.opset, export.atol))
            run.log_metrics({**tracked_parity(figures), "onnx_test_accuracy": figures["onnx_test_accuracy"]})
            failures = parity_failures(figures, export.atol)
            if failures:
                raise ParityError("ONNX parity gate failed: " + "; ".join(failures))
            # what predict compares each batch with (core/monitoring.py), carried in the file itself
            test, train_pixels = (trained.x_test, trained.y_test), load_split(args.data, "train")[0]
            reference = build_reference(onnx_model.predict, test, train_pixels)
            set_metadata(proto, {METADATA_KEY: reference.to_json()})
            save_onnx(proto, candidate)
        log.info(
            "parity on %d test images: max |diff| %.2g, argmax agreement %.4f, ONNX accuracy %.4f",
            figures["images"],
            figures["max_abs_diff"],
            figures["argmax_agreement"],
            figures["onnx_test_accuracy"],
        )
        int8 = _int8(args, params, test, calibration_images(train_pixels))
        write_json(args.metrics, {**export_metrics(figures, export.opset, export.atol), **int8.figures})
        run.log_metrics(int8.figures)
        example = trained.x_test[:5]
        version_figures = {"test_accuracy": figures["onnx_test_accuracy"], **tracked_parity(figures)}
        if int8.path is not None:  # the version's own tags say how its int8 model fared
            version_figures |= {name: int8.figures[name] for name in ("int8_agreement", "int8_test_accuracy")}
        examples = (example, onnx_model.predict(example))

        decision = _promotion(params, trained, onnx_model) if run.run_id is not None else None
        promotion = {"promotion": decision.tag} if decision else {}
        trained_with = {k: v for k, v in flatten(params).items() if k == "seed" or k.startswith(("mlflow.", "train."))}
        # read now, before the store is touched: evaluate's figures (deps in dvc.yaml) and the lock
        facts = workspace_facts(".", params=trained_with)

        def card(request: CardRequest) -> dict[str, str]:  # once the version has its number
            name = export.registered_model
            registered = {"registered": f"models:/{name}/{request.version}", **promotion}
            lineage = {**run_lineage(request.run_id, request.tags), **registered}
            baseline = version_facts(request.baseline) if request.baseline else None
            return card_files(replace(facts, title=f"{name} version {request.version}", lineage=lineage), ".", baseline)

        outcome = (decision.tag, decision.promoted) if decision else None
        version = OnnxVersion(
            proto, examples, export.registered_model, version_figures, PROVIDERS, card, outcome, int8.path
        )
        run.log_onnx_model(version)


def _int8(args: argparse.Namespace, params: Params, test, calibration) -> Int8Export:
    """The int8 model written into --int8 if it passes its gate against the float model just
    written; one line either way."""
    export = params.export
    done = export_int8(
        args.output,
        args.int8,
        calibration,
        test,
        min_agreement=export.int8_min_agreement,
        max_accuracy_drop=export.int8_max_accuracy_drop,
    )
    figures = done.figures
    if done.failures:
        log.warning("int8 model not written: %s; the float model stands", "; ".join(done.failures))
    else:
        log.info(
            "int8 model %s: argmax agreement %.4f with the float model, test accuracy %.4f, %.0f%% of its size",
            done.path,
            figures["int8_agreement"],
            figures["int8_test_accuracy"],
            100 * figures["int8_size_ratio"],
        )
    return done


def _promotion(params: Params, trained: Trained, candidate: OnnxModel):
    """The promotion gate's decision for `candidate` against the current champion (training/promotion.py),
    or None where the champion cannot be fetched (said in one line: the version is registered
    without a decision)."""
    from mnist_ann.training.promotion import Rules, against_champion

    rules = Rules(**asdict(params.promote))
    name, test = params.export.registered_model, (trained.x_test, trained.y_test)
    try:
        decision = against_champion(name, candidate.predict, test, rules, root=repo_root())
    except ModelError as exc:
        log.warning("promotion not decided: the champion could not be fetched: %s", exc)
        return None
    log.info("promotion %s", decision.tag)
    return decision


if __name__ == "__main__":
    run_main(main)
