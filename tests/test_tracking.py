"""The tracking door on a real SQLite MLflow store: one run, reopened by id, ended with the right
status; an unreachable server is a bounded, one-line failure."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import mlflow
import pytest

from mnist_ann.errors import TrackingError
from mnist_ann.tracking import UntrackedRun, read_run_file, repo_root, tracked_stage, tracking_uri, write_run_file


def status(uri, run_id):
    return mlflow.MlflowClient(uri).get_run(run_id).info.status


def test_run_is_started_logged_and_finished(tracking_env, tmp_path):
    with tracked_stage("exp-finish", root=tmp_path) as run:
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
    with tracked_stage("exp-reopen", root=tmp_path) as first:
        first.log_metrics({"a": 1})
    with tracked_stage("exp-reopen", root=tmp_path, run_id=first.run_id) as again:
        again.log_metrics({"b": 2})
    assert again.run_id == first.run_id
    assert mlflow.MlflowClient(tracking_env).get_run(first.run_id).data.metrics == {"a": 1, "b": 2}
    assert status(tracking_env, first.run_id) == "FINISHED"


def test_unknown_run_id_starts_a_new_run(tracking_env, tmp_path):
    with tracked_stage("exp-unknown", root=tmp_path, run_id="0" * 32) as run:
        pass
    assert run.run_id != "0" * 32
    assert mlflow.MlflowClient(tracking_env).get_run(run.run_id).data.tags["mnist_ann.continues_run"] == "0" * 32


@pytest.mark.parametrize("error, expected", [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_failing_stage_marks_the_run(tracking_env, tmp_path, error, expected):
    with pytest.raises(type(error)), tracked_stage("exp-fail", root=tmp_path) as run:
        raise error
    assert status(tracking_env, run.run_id) == expected


def test_tracking_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ANN_TRACKING", "off")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/never-contacted")
    with tracked_stage("exp-off", root=tmp_path) as run:
        run.log_metrics({"a": 1})
        run.log_params({"b": 2})
    assert isinstance(run, UntrackedRun) and run.run_id is None


def test_unreachable_server_fails_fast_in_one_line(monkeypatch, tmp_path, closed_port_url):
    server = closed_port_url.rsplit("/", 1)[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    started = time.monotonic()
    with pytest.raises(TrackingError) as caught, tracked_stage("exp-down", root=tmp_path):
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


def test_run_left_running_by_a_dead_stage_is_marked_killed(tracking_env, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    client = mlflow.MlflowClient(tracking_env)
    experiment_id = client.create_experiment("exp-reap")

    orphan = client.create_run(
        experiment_id, tags={"mnist_ann.host": socket.gethostname(), "mnist_ann.pid": dead.stdout.strip()}
    )
    alive = client.create_run(experiment_id, tags={"mnist_ann.host": socket.gethostname(), "mnist_ann.pid": "1"})
    foreign = client.create_run(
        experiment_id, tags={"mnist_ann.host": "another-machine", "mnist_ann.pid": dead.stdout.strip()}
    )
    with tracked_stage("exp-reap", root=tmp_path):
        pass
    assert status(tracking_env, orphan.info.run_id) == "KILLED"
    assert status(tracking_env, alive.info.run_id) == "RUNNING"  # pid 1 lives: a parallel stage's run
    assert status(tracking_env, foreign.info.run_id) == "RUNNING"  # not ours to judge


def test_run_file_round_trip_and_bad_files(tmp_path):
    """The run-id file carries the run from train to the later stages; a damaged one is one line."""
    path = tmp_path / "models" / "mlflow_run.json"
    write_run_file(path, "a" * 32, "mnist-ann")
    assert read_run_file(path) == "a" * 32
    write_run_file(path, None, "mnist-ann")  # train ran with tracking off
    assert read_run_file(path) is None
    for content, reason in (("{not json", "JSONDecodeError"), ("[]", "TypeError"), ('{"run": 1}', "KeyError")):
        path.write_text(content)
        with pytest.raises(TrackingError, match=f"{path}: not a run-id file written by the train stage .{reason}"):
            read_run_file(path)
    path.write_text('{"run_id": 7}')
    with pytest.raises(TrackingError, match="run_id must be a string or null"):
        read_run_file(path)
    with pytest.raises(FileNotFoundError):
        read_run_file(tmp_path / "absent.json")
