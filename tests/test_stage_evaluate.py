"""The evaluate stage as DVC runs it: test metrics, predictions, the seed's sample and plots; a
model it cannot load is one line."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import STAGE_ARGS, run_stage

pytestmark = pytest.mark.slow


def test_evaluate_outputs(trained):
    workdir, evaluate = trained.workdir, trained.evaluate
    metrics = json.loads((workdir / "metrics" / "evaluate.json").read_text())
    assert set(metrics) == {"test_loss", "test_accuracy", "precision", "recall"}
    assert set(metrics["precision"]) == {str(d) for d in range(10)}
    with open(workdir / "metrics" / "test_predictions.csv") as fp:
        rows = list(csv.DictReader(fp))
    assert len(rows) == 64 and set(rows[0]) == {"actual", "predicted"}
    assert sum(r["actual"] == r["predicted"] for r in rows) / 64 == pytest.approx(metrics["test_accuracy"])
    assert evaluate.stdout.splitlines()[0].startswith("predicted: ") and len(evaluate.stdout.splitlines()[0]) == 11 + 12
    for name in ("confusion_matrix.png", "predictions.png"):
        assert (workdir / "plots" / "evaluate" / name).read_bytes()[:4] == b"\x89PNG"
    # issue 25: the model card's grid of the surest mistakes (2 epochs on 256 images make some)
    assert sum(r["actual"] != r["predicted"] for r in rows) > 0
    assert (workdir / "plots" / "evaluate" / "mistakes.png").read_bytes()[:4] == b"\x89PNG"
    # issue 24: accuracy on each fixed variant of the test set, as a metric, a plot and in MLflow
    robust = json.loads((workdir / "metrics" / "robustness.json").read_text())
    names = ["shift_3px", "rotate_20deg", "scale_0.7", "scale_1.3", "thick", "thin", "blur", "noise"]
    names += ["photo_gradient", "photo_ruled", "photo_squared", "rendered"]  # through predict's own preparation
    assert list(robust) == [*names, "mean"] and all(0 <= robust[n] <= 1 for n in names)
    assert robust["mean"] == pytest.approx(sum(robust[n] for n in names) / len(names))
    with open(workdir / "metrics" / "robustness.csv") as fp:
        assert [(r["variant"], float(r["accuracy"])) for r in csv.DictReader(fp)] == list(robust.items())
    logged = trained.client.get_run(trained.run_id).data.metrics
    assert {k: logged[f"robust_{k}"] for k in robust} == pytest.approx(robust)


def test_failing_stage_marks_the_run_failed(trained, tmp_path):
    workdir, client = trained.workdir, trained.client
    bad_model = tmp_path / "model.keras"
    bad_model.write_bytes(b"not a model")
    args = [a if a != "models/model.keras" else str(bad_model) for a in STAGE_ARGS["evaluate"]]
    args[args.index("metrics/evaluate.json")] = str(tmp_path / "evaluate.json")
    result = run_stage("evaluate", *args, cwd=workdir, env={"MLFLOW_TRACKING_URI": client.tracking_uri})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bad_model}: cannot load the Keras model")
    assert not (tmp_path / "evaluate.json").exists()
