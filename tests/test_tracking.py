"""The tracking door on a real SQLite MLflow store: one run, reopened by id, ended with the right
status; an unreachable server is a bounded, one-line failure."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import mlflow
import pytest

from mnist_ann.provenance import data_hash, provenance_tags, repo_root
from mnist_ann.tracking import NoRun, TrackingError, pipeline_run, tracking_uri


def status(uri, run_id):
    return mlflow.MlflowClient(uri).get_run(run_id).info.status


def test_run_is_started_logged_and_finished(tracking_env, tmp_path):
    with pipeline_run("exp-finish", tmp_path) as run:
        run.log_params({"train.epochs": 5, "train.hidden_units": [256, 128]})
        run.log_metrics({"val_accuracy": 0.5}, step=1)
        run.log_metrics({"val_accuracy": 0.75}, step=2)
        run.set_tags({"dvc.experiment": "bold-cat"})
        assert status(tracking_env, run.run_id) == "RUNNING"
    data = mlflow.MlflowClient(tracking_env).get_run(run.run_id).data
    assert status(tracking_env, run.run_id) == "FINISHED"
    assert data.params == {"train.epochs": "5", "train.hidden_units": "[256, 128]"}
    assert data.tags["dvc.experiment"] == "bold-cat"
    steps = mlflow.MlflowClient(tracking_env).get_metric_history(run.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in steps] == [(1, 0.5), (2, 0.75)]


def test_reopened_run_is_the_same_run(tracking_env, tmp_path):
    with pipeline_run("exp-reopen", tmp_path) as first:
        first.log_metrics({"a": 1})
    with pipeline_run("exp-reopen", tmp_path, run_id=first.run_id) as again:
        again.log_metrics({"b": 2})
    assert again.run_id == first.run_id
    assert mlflow.MlflowClient(tracking_env).get_run(first.run_id).data.metrics == {"a": 1, "b": 2}
    assert status(tracking_env, first.run_id) == "FINISHED"


def test_unknown_run_id_starts_a_new_run(tracking_env, tmp_path):
    with pipeline_run("exp-unknown", tmp_path, run_id="0" * 32) as run:
        pass
    assert run.run_id != "0" * 32
    assert mlflow.MlflowClient(tracking_env).get_run(run.run_id).data.tags["mnist_ann.continues_run"] == "0" * 32


@pytest.mark.parametrize("error, expected", [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_failing_stage_marks_the_run(tracking_env, tmp_path, error, expected):
    with pytest.raises(type(error)):
        with pipeline_run("exp-fail", tmp_path) as run:
            raise error
    assert status(tracking_env, run.run_id) == expected


def test_tracking_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ANN_TRACKING", "off")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/never-contacted")
    with pipeline_run("exp-off", tmp_path) as run:
        run.log_metrics({"a": 1})
        run.log_params({"b": 2})
    assert isinstance(run, NoRun) and run.run_id is None


def test_unreachable_server_fails_fast_in_one_line(monkeypatch, tmp_path, closed_port_url):
    server = closed_port_url.rsplit("/", 1)[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    started = time.monotonic()
    with pytest.raises(TrackingError) as caught:
        with pipeline_run("exp-down", tmp_path):
            pytest.fail("the stage's work must not start")
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert message.startswith(f"MLflow tracking at {server} is unavailable: ") and "\n" not in message


def test_default_store_is_at_the_repo_root(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert repo_root() == tmp_path.resolve()
    assert tracking_uri(repo_root()) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.delenv("DVC_ROOT")
    monkeypatch.chdir(tmp_path)
    assert repo_root() == tmp_path.resolve()


def test_provenance_tags(tmp_path, monkeypatch):
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  preprocess:\n    outs:\n    - path: data/processed\n      md5: abc123.dir\n")
    monkeypatch.setenv("DVC_EXP_NAME", "bold-cat")
    tags = provenance_tags(tmp_path)
    assert data_hash(tmp_path) == "abc123.dir" and tags["data.md5"] == "abc123.dir"
    assert tags["dvc.experiment"] == "bold-cat"
    assert tags["version.keras"].startswith("3.") and tags["version.mlflow"]
    assert "cores)" in tags["cpu"]
    assert "mlflow.source.git.commit" not in tags  # tmp_path is no git checkout


def test_run_left_running_by_a_dead_stage_is_marked_killed(tracking_env, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    client = mlflow.MlflowClient(tracking_env)
    experiment_id = client.create_experiment("exp-reap")

    orphan = client.create_run(experiment_id, tags={"mnist_ann.host": socket.gethostname(), "mnist_ann.pid": dead.stdout.strip()})
    alive = client.create_run(experiment_id, tags={"mnist_ann.host": socket.gethostname(), "mnist_ann.pid": "1"})
    foreign = client.create_run(experiment_id, tags={"mnist_ann.host": "another-machine", "mnist_ann.pid": dead.stdout.strip()})
    with pipeline_run("exp-reap", tmp_path):
        pass
    assert status(tracking_env, orphan.info.run_id) == "KILLED"
    assert status(tracking_env, alive.info.run_id) == "RUNNING"  # pid 1 lives: a parallel stage's run
    assert status(tracking_env, foreign.info.run_id) == "RUNNING"  # not ours to judge
