"""The train and evaluate stages as DVC runs them, on tiny data, logging into a real SQLite store:
one MLflow run carries params, per-epoch curves, tags, artifacts and the model, and evaluate logs
into the same run."""

from __future__ import annotations

import csv
import json

import mlflow
import numpy as np
import pytest
import yaml

from conftest import REPO, run_script, tiny_mnist
from mnist_ann.data import preprocess, save_npy

pytestmark = pytest.mark.slow

EPOCHS = 2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out like the repo: params.yaml (2 epochs), a dvc.lock naming the data hash, and
    the preprocess stage's output for 256 training and 64 test images."""
    root = tmp_path_factory.mktemp("work")
    raw = tiny_mnist(train=256, test=64)
    for split in ("train", "test"):
        save_npy(root / "data" / "processed" / f"x_{split}.npy", preprocess(raw[f"x_{split}"]))
        save_npy(root / "data" / "processed" / f"y_{split}.npy", raw[f"y_{split}"])
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(epochs=EPOCHS, batch_size=32)
    params["evaluate"]["sample_size"] = 12
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "dvc.lock").write_text("stages:\n  preprocess:\n    outs:\n    - path: data/processed\n      md5: feedbeef.dir\n")
    return root


TRAIN_ARGS = ["--data", "data/processed", "--model", "models/model.keras", "--run-file", "models/mlflow_run.json",
              "--metrics", "metrics/train.json", "--history", "metrics/train_history.csv", "--plots", "plots/train"]
EVALUATE_ARGS = ["--data", "data/processed", "--model", "models/model.keras", "--run-file", "models/mlflow_run.json",
                 "--metrics", "metrics/evaluate.json", "--predictions", "metrics/test_predictions.csv",
                 "--plots", "plots/evaluate"]


EXPORT_ARGS = ["--data", "data/processed", "--model", "models/model.keras", "--run-file", "models/mlflow_run.json",
               "--output", "models/model.onnx", "--metrics", "metrics/export.json"]


@pytest.fixture(scope="module")
def trained(workdir, mlflow_store):
    env = {"MLFLOW_TRACKING_URI": mlflow_store}
    train = run_script(REPO / "pipeline" / "train.py", *TRAIN_ARGS, cwd=workdir, env=env)
    assert train.returncode == 0, train.stderr
    evaluate = run_script(REPO / "pipeline" / "evaluate.py", *EVALUATE_ARGS, cwd=workdir, env=env)
    assert evaluate.returncode == 0, evaluate.stderr
    export = run_script(REPO / "pipeline" / "export.py", *EXPORT_ARGS, cwd=workdir, env=env)
    assert export.returncode == 0, export.stderr
    run_id = json.loads((workdir / "models" / "mlflow_run.json").read_text())["run_id"]
    return workdir, mlflow.MlflowClient(mlflow_store), run_id, evaluate


def test_train_outputs(trained):
    workdir, *_ = trained
    with open(workdir / "metrics" / "train_history.csv") as fp:
        rows = list(csv.DictReader(fp))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    final = json.loads((workdir / "metrics" / "train.json").read_text())
    assert final["epoch"] == EPOCHS and final["val_accuracy"] == pytest.approx(float(rows[-1]["val_accuracy"]))
    for name in ("accuracy.png", "loss.png"):
        assert (workdir / "plots" / "train" / name).read_bytes()[:4] == b"\x89PNG"


def test_one_run_carries_everything(trained):
    workdir, client, run_id, _ = trained
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["train.learning_rate"] == "0.01" and params["train.epochs"] == str(EPOCHS)
    assert params["train.hidden_units"] == "[256, 128, 64, 32]" and params["seed"] == "42"
    assert "download.sources" in params and params["mlflow.experiment_name"] == "mnist-ann"
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2]
    tags = run.data.tags
    assert tags["data.md5"] == "feedbeef.dir"
    assert tags["version.tensorflow-cpu"] and tags["version.keras"].startswith("3.") and tags["cpu"]
    # evaluate logged into the same run
    metrics = run.data.metrics
    assert 0 <= metrics["test_accuracy"] <= 1 and "precision_3" in metrics and "recall_9" in metrics
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"model_summary.txt", "train_history.csv", "confusion_matrix.json", "plots/accuracy.png", "plots/loss.png",
            "plots/confusion_matrix.png", "plots/predictions.png", "plots/predictions.txt"} <= artifacts
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert any(model.source_run_id == run_id for model in logged)


def test_logged_model_predicts_like_the_file(trained):
    workdir, client, run_id, _ = trained
    from mnist_ann.data import load_npy
    from mnist_ann.model import load_model

    experiment_id = client.get_run(run_id).info.experiment_id
    logged = [m for m in client.search_logged_models(experiment_ids=[experiment_id])
              if m.source_run_id == run_id and m.name == "model"][0]
    mlflow.set_tracking_uri(client.tracking_uri)  # models:/ URIs resolve through the global store
    pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    x = load_npy(workdir / "data" / "processed" / "x_test.npy")[:8]
    expected = load_model(workdir / "models" / "model.keras").predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(pyfunc.predict(x)), expected, rtol=1e-6, atol=1e-7)
    assert tuple(pyfunc.metadata.get_input_schema().to_dict()[0]["tensor-spec"]["shape"]) == (-1, 784)


def test_evaluate_outputs(trained):
    workdir, _, _, evaluate = trained
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


def test_failing_stage_marks_the_run_failed(trained, tmp_path):
    workdir, client, run_id, _ = trained
    bad_model = tmp_path / "model.keras"
    bad_model.write_bytes(b"not a model")
    args = [a if a != "models/model.keras" else str(bad_model) for a in EVALUATE_ARGS]
    args[args.index("metrics/evaluate.json")] = str(tmp_path / "evaluate.json")
    result = run_script(REPO / "pipeline" / "evaluate.py", *args, cwd=workdir, env={"MLFLOW_TRACKING_URI": client.tracking_uri})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bad_model}: cannot load the Keras model")
    assert not (tmp_path / "evaluate.json").exists()


def test_export_passes_the_gate_and_registers(trained):
    workdir, client, run_id, _ = trained
    figures = json.loads((workdir / "metrics" / "export.json").read_text())
    assert figures["images"] == 64 and figures["argmax_agreement"] == 1.0
    assert figures["max_abs_diff"] <= figures["atol"] == 1e-5 and figures["opset"] == 17
    assert figures["onnx_test_accuracy"] == figures["keras_test_accuracy"]
    assert (workdir / "models" / "model.onnx").stat().st_size > 0
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["parity_argmax_agreement"] == 1.0 and "parity_max_abs_diff" in run.data.metrics
    versions = client.search_model_versions("name='mnist-ann'")
    assert any(v.run_id == run_id for v in versions)
    logged = {m.name for m in client.search_logged_models(experiment_ids=[run.info.experiment_id]) if m.source_run_id == run_id}
    assert {"model", "onnx_model"} <= logged


def test_failed_gate_leaves_no_model(trained, tmp_path):
    workdir, client, run_id, _ = trained
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["export"]["atol"] = 1e-30  # no two float32 runtimes agree to that
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = [a if a != "models/model.onnx" else str(tmp_path / "model.onnx") for a in EXPORT_ARGS]
    args[args.index("metrics/export.json")] = str(tmp_path / "export.json")
    result = run_script(REPO / "pipeline" / "export.py", "--params", tmp_path / "params.yaml", *args, cwd=workdir,
                        env={"MLFLOW_TRACKING_URI": client.tracking_uri})
    figures = json.loads((tmp_path / "export.json").read_text())
    if figures["max_abs_diff"] == 0:
        pytest.skip("Keras and onnxruntime agreed to the last bit on this machine: nothing to refuse")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ONNX parity gate failed: max |Keras - ONNX| probability difference")
    assert not (tmp_path / "model.onnx").exists() and not list(tmp_path.glob(".model.onnx*"))
    assert client.get_run(run_id).info.status == "FAILED"
