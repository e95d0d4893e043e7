"""predict/monitor.py: the reference read from the model file, every engine call watched as it
passes, and a model without a reference (or with a broken one) scored as before with one line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from helpers import read_rows, with_monitoring
from mnist_ann.core.monitoring import METADATA_KEY
from mnist_ann.core.onnx_model import OnnxModel
from mnist_ann.predict.monitor import NO_REFERENCE, Watched, model_description, watch_for


def test_every_call_through_a_watched_model_is_watched_and_answered_unchanged(monitored, tmp_path):
    (tmp_path / "model.onnx").write_bytes(monitored.read_bytes())
    model = OnnxModel(tmp_path / "model.onnx")
    watch = watch_for(model)
    assert not isinstance(watch, str) and watch.reference.to_json() == model.metadata[METADATA_KEY]
    watched, pixels = Watched(model, watch), np.random.default_rng(1).random((70, 784)).astype(np.float32)
    for part in (pixels[:30], pixels[30:]):
        assert np.array_equal(watched.predict(part), model.predict(part))
    assert watch.images == 70 and watch.digits.sum() == 70
    sha256 = hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    assert model_description(model, "models:/mnist-ann/3") == {"named": "models:/mnist-ann/3", "sha256": sha256}


def test_a_model_without_a_reference_or_with_a_broken_one_says_why_in_one_line(exported, tmp_path):
    assert watch_for(OnnxModel(exported[1])) == NO_REFERENCE
    broken = OnnxModel(with_monitoring(exported[1], tmp_path / "broken.onnx", '{"temperature": "warm"}'))
    why = watch_for(broken)
    assert isinstance(why, str) and "the monitoring reference is not one this version reads" in why and "\n" not in why


@pytest.mark.heavy  # the command as a process
def test_predict_writes_the_summary_beside_the_output_and_fail_on_drift_exits_3(exported, monitored, tmp_path):
    from helpers import run_script

    model = monitored
    rng = np.random.default_rng(7)
    np.save(tmp_path / "alike.npy", (rng.random((500, 28, 28)) * 255).astype(np.uint8))  # the reference's kind
    np.save(tmp_path / "faint.npy", (rng.random((500, 28, 28)) * 40).astype(np.uint8))  # far from it

    def predict(inputs: str, output: str, *extra: str):
        return run_script(
            "-m", "mnist_ann.cli", "predict", tmp_path / inputs, "--model", model, "--output", tmp_path / output, *extra
        )

    done = predict("alike.npy", "alike.csv")
    summary = json.loads((tmp_path / "alike.monitor.json").read_text())
    assert done.returncode == 0 and "drift" not in done.stderr, done.stderr
    assert summary["images"] == 500 and summary["drift"]["alarm"] is False and summary["reference"]["images"] == 200
    assert summary["model"]["named"] == str(model)
    # standard output has no file beside it: the summary's figures in one line of stderr instead
    done = run_script("-m", "mnist_ann.cli", "predict", tmp_path / "alike.npy", "--model", model, "--output", "-")
    (line,) = [line for line in done.stderr.splitlines() if "batch summary" in line]
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 501
    figures = f"500 images, estimated accuracy {summary['estimated_accuracy']:.4f}, drift score"
    assert figures in line and line.endswith("alarm no"), line
    done = predict("faint.npy", "faint.csv")
    summary = json.loads((tmp_path / "faint.monitor.json").read_text())
    assert done.returncode == 0 and summary["drift"]["alarm"] is True and summary["estimate_reliable"] is False
    (warning,) = [line for line in done.stderr.splitlines() if "drift:" in line]
    assert f"see {tmp_path / 'faint.monitor.json'}" in warning and "is a guess" in warning
    (tmp_path / "faint.csv").unlink()
    done = predict("faint.npy", "faint.csv", "--fail-on-drift")
    assert done.returncode == 3 and len(read_rows(tmp_path / "faint.csv")) == 500, done.stderr
    # a model without a reference: scored as before, the summary says why it says nothing
    done = run_script(
        "-m",
        "mnist_ann.cli",
        "predict",
        tmp_path / "faint.npy",
        "--model",
        exported[1],
        "--output",
        tmp_path / "plain.csv",
    )
    summary = json.loads((tmp_path / "plain.monitor.json").read_text())
    assert done.returncode == 0 and summary["monitored"] is False and summary["why"] == NO_REFERENCE
    assert f"nothing about this batch can be monitored: {NO_REFERENCE}" in done.stderr
