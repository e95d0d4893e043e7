"""lineage.py: the name of a pipeline execution's run, and the record a stage after train restores
into a store that lacks train's run."""

from __future__ import annotations

import mlflow
import pytest

from helpers import REPO, copy_of_this_repo, git, write_params
from mnist_ann.tracking import tracked_stage
from mnist_ann.tracking.tags import PARAMS_CHANGED as CHANGED
from mnist_ann.tracking.tags import RESTORED
from mnist_ann.training.lineage import change_tags, history_rows, run_name, train_record
from mnist_ann.training.params import flatten, load_params


def test_run_name_is_the_experiments_under_dvc_exp_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no git checkout here: the label says so
    params = load_params(REPO / "params.yaml")
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert run_name(params, REPO / "params.yaml") == "no-commit"
    monkeypatch.setenv("DVC_EXP_NAME", "lr-0.001")
    assert run_name(params, REPO / "params.yaml") == "lr-0.001"


def test_a_run_says_which_params_it_changed_with_their_values(tmp_path, monkeypatch):
    """Issue 23: a run made with `-S train.epochs=2` was tagged `git.changed: params.yaml` only."""
    repo = copy_of_this_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_EXP_NAME", "short")  # named after the experiment, as under dvc exp run
    assert change_tags(load_params(repo / "params.yaml"), repo / "params.yaml")[CHANGED] == "none"
    write_params(repo / "params.yaml", {"train.epochs": 2, "train.learning_rate": 0.005})
    tags = change_tags(load_params(repo / "params.yaml"), repo / "params.yaml")
    assert tags[CHANGED] == "train.learning_rate=0.005, train.epochs=2"
    commit = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    assert tags["mlflow.note.content"] == f"params changed from {commit}: train.learning_rate=0.005, train.epochs=2"


def test_train_record_restores_name_params_tags_and_curves(tracking_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "teammates-exp")
    params = load_params(REPO / "params.yaml")
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n1,0.5,\n2,0.25,0.3\n")  # as train writes it
    restore = train_record(params, REPO / "params.yaml", tmp_path / "history.csv")
    sha = "c" * 64  # a model no run of this store trained (its outputs came from a DVC remote)
    with tracked_stage("exp-lineage", stage="evaluate", root=tmp_path, model_sha256=sha, restore=restore) as run:
        pass
    with tracked_stage("exp-lineage", stage="export", root=tmp_path, model_sha256=sha, restore=restore) as again:
        pass
    assert again.run_id == run.run_id  # found by the model's sha256: one run, restored once
    client = mlflow.MlflowClient(tracking_env)
    restored = client.get_run(run.run_id)
    assert restored.data.params["train.learning_rate"] == str(flatten(params)["train.learning_rate"])
    assert restored.info.run_name == "teammates-exp"
    assert restored.data.tags[CHANGED] == "none"  # tmp_path: no commit to differ from
    assert restored.data.tags["mnist_ann.model_sha256"] == sha and "restored" in restored.data.tags[RESTORED]
    assert restored.data.tags["version.keras"].startswith("3.")
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "loss")] == [(1, 0.5), (2, 0.25)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "val_loss")] == [(2, pytest.approx(0.3))]


def test_the_history_read_back_is_the_train_stages_rows_or_nothing(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss,val_accuracy\n1,0.5,\n2,0.25,0.9\n")
    assert history_rows(history) == [{"epoch": 1.0, "loss": 0.5}, {"epoch": 2.0, "loss": 0.25, "val_accuracy": 0.9}]
    for text in ("epoch,loss\n0,0.5\n", "epoch,loss\n1.5,0.5\n", "loss\n0.5\n", "\xff\xfe", "epoch,loss\n1,nan\n2,x\n"):
        history.write_bytes(text.encode("latin-1"))
        rows = history_rows(history)
        assert rows in ([], [{"epoch": 1.0}, {"epoch": 2.0}]), text  # no made-up epoch, no non-finite value
    assert history_rows(tmp_path / "absent.csv") == []
