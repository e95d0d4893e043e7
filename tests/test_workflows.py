"""The workflows users come for, end to end, with the real DVC, MLflow and onnxruntime, on a copy
of this repository with small params (2000 training images, 500 test images, 2 epochs):
repro and what reruns, params/metrics/plots diffs, experiments and a queued parallel sweep landing
in the main MLflow store, the MLflow server's REST API comparing runs, and a DVC remote."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import REPO, STAGES, VENV_BIN, all_runs, dvc, git, ran, run_queue, run_script, write_params
from mnist_ann.data import load_npz, preprocess

pytestmark = [pytest.mark.slow, pytest.mark.network]


@pytest.fixture(scope="module")
def two_runs(baseline, tmp_path_factory, mnist_cache) -> tuple[Path, subprocess.CompletedProcess]:
    """The baseline copy with train.learning_rate changed and reproduced: two pipeline runs."""
    repo = Path(shutil.copytree(baseline, tmp_path_factory.mktemp("two-runs") / "repo", symlinks=True))
    write_params(repo / "params.yaml", {"train.learning_rate": 0.005})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
        return repo, dvc(repo, "repro")


def test_first_repro_builds_a_verified_tracked_model(baseline):
    assert set(yaml.safe_load((baseline / "dvc.lock").read_text())["stages"]) == set(STAGES)
    parity = json.loads((baseline / "metrics" / "export.json").read_text())
    assert parity["images"] == 500 and parity["argmax_agreement"] == 1.0 and parity["max_abs_diff"] <= 1e-5
    evaluation = json.loads((baseline / "metrics" / "evaluate.json").read_text())
    assert evaluation["test_accuracy"] > 0.8  # 2000 images, 2 epochs: far above chance (0.1)
    (run,) = all_runs(baseline)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_accuracy"] == pytest.approx(evaluation["test_accuracy"])
    assert run.data.metrics["parity_argmax_agreement"] == 1.0
    assert run.info.artifact_uri.startswith((baseline / "mlartifacts").resolve().as_uri())
    assert json.loads((baseline / "models" / "mlflow_run.json").read_text())["run_id"] == run.info.run_id


def test_second_repro_runs_nothing(repo):
    assert ran(dvc(repo, "repro")) == set()
    assert dvc(repo, "status").stdout.strip() == "Data and pipelines are up to date."


def test_param_change_reruns_downstream_only(two_runs):
    repo, result = two_runs
    assert ran(result) == {"train", "evaluate", "export"}
    assert len(all_runs(repo)) == 2


def test_code_change_reruns_the_stages_that_import_it(repo):
    with open(repo / "src" / "mnist_ann" / "evaluation.py", "a") as fp:
        fp.write("\n# a comment changes the file's hash, as any edit would\n")
    assert ran(dvc(repo, "repro")) == {"evaluate"}


def test_params_and_metrics_diff(two_runs):
    repo, _ = two_runs
    params = dvc(repo, "params", "diff", "--json")
    change = json.loads(params.stdout)["params.yaml"]["train.learning_rate"]
    assert (change["old"], change["new"]) == (0.01, 0.005)
    metrics = json.loads(dvc(repo, "metrics", "diff", "--json").stdout)
    accuracy = metrics["metrics/evaluate.json"]["test_accuracy"]
    assert accuracy["old"] != accuracy["new"] and accuracy["diff"] == pytest.approx(accuracy["new"] - accuracy["old"])
    assert "train.learning_rate" in dvc(repo, "params", "diff").stdout  # and the table people read


@pytest.mark.parametrize("command", [["plots", "show"], ["plots", "diff", "main"]])
def test_plots_make_html_with_curves_and_confusion(two_runs, tmp_path, command):
    repo, _ = two_runs
    result = dvc(repo, *command, "-o", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "plots" / "index.html").read_text()
    for title in ("Training and validation accuracy", "Training and validation loss", "Confusion matrix"):
        assert title in html
    assert "val_accuracy" in html and "predicted" in html
    assert list((tmp_path / "plots").rglob("*.png"))  # the PNG figures are embedded too


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rest(base: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/{path}",
        method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_mlflow_server_compares_runs(two_runs):
    """A real `mlflow server` on loopback, against the store the pipeline made: through its REST
    API, two runs with different params each carry params, per-epoch curves, test accuracy and the
    ONNX parity figures."""
    repo, _ = two_runs
    port = _free_port()
    server = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{repo / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        experiment = _rest(base, "experiments/get-by-name?experiment_name=mnist-ann")["experiment"]
        runs = _rest(base, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        assert len(runs) == 2
        rates = set()
        for run in runs:
            params = {p["key"]: p["value"] for p in run["data"]["params"]}
            metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
            rates.add(params["train.learning_rate"])
            assert params["train.epochs"] == "2" and params["train.hidden_units"] == "[256, 128, 64, 32]"
            assert 0.8 < metrics["test_accuracy"] <= 1
            assert metrics["parity_argmax_agreement"] == 1.0 and metrics["parity_max_abs_diff"] <= 1e-5
            run_id = run["info"]["run_id"]
            curve = _rest(base, f"metrics/get-history?run_id={run_id}&metric_key=val_accuracy")["metrics"]
            assert sorted(point["step"] for point in curve) == [1, 2]
        assert rates == {"0.01", "0.005"}
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_experiments_and_four_parallel_ones_land_in_the_main_store(repo):
    single = dvc(repo, "exp", "run", "-n", "slow-lr", "-S", "train.learning_rate=0.001")
    assert ran(single) == {"train", "evaluate", "export"}
    # Four at once against the one SQLite store (on two cores: slow, and the worst case for locking).
    # None equals the baseline's 0.01: DVC would restore that one from its run cache, running nothing.
    queued = dvc(repo, "exp", "run", "--queue", "-S", "train.learning_rate=0.02,0.008,0.005,0.002")
    assert queued.returncode == 0, queued.stderr
    sweep, dvc_hung = run_queue(repo, jobs=4)
    assert sweep.returncode == 0 or dvc_hung, sweep.stdout + sweep.stderr
    assert "database is locked" not in sweep.stdout + sweep.stderr

    runs = all_runs(repo)  # the main repo's store: runs made in .dvc/tmp/exps copies are not lost
    assert len(runs) == 6 and all(run.info.status == "FINISHED" for run in runs)
    by_experiment = {run.data.tags.get("dvc.experiment"): run for run in runs[1:]}
    assert len(by_experiment) == 5 and "slow-lr" in by_experiment and None not in by_experiment
    rates = sorted(run.data.params["train.learning_rate"] for run in runs[1:])
    assert rates == ["0.001", "0.002", "0.005", "0.008", "0.02"]
    assert all("test_accuracy" in run.data.metrics and "parity_max_abs_diff" in run.data.metrics for run in runs)

    shown = dvc(repo, "exp", "show", "--csv")
    assert shown.returncode == 0, shown.stderr
    table = list(csv.DictReader(shown.stdout.splitlines()))
    run_ids = {row["Experiment"]: row["run_id"] for row in table if row.get("Experiment")}
    for name, run in by_experiment.items():
        assert run_ids[name] == run.info.run_id  # `dvc exp show` names each experiment's MLflow run

    applied = dvc(repo, "exp", "apply", "slow-lr")
    assert applied.returncode == 0, applied.stderr
    assert "learning_rate: 0.001" in (repo / "params.yaml").read_text()
    assert (
        json.loads((repo / "models" / "mlflow_run.json").read_text())["run_id"] == by_experiment["slow-lr"].info.run_id
    )


def test_remote_push_then_pull_in_a_fresh_clone(repo, tmp_path):
    remote = tmp_path / "remote"
    assert dvc(repo, "remote", "add", "-d", "local", str(remote)).returncode == 0
    git(repo, "commit", "-qam", "a local DVC remote")
    pushed = dvc(repo, "push")
    assert pushed.returncode == 0, pushed.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / "models" / "model.onnx").exists()
    pulled = dvc(clone, "pull")
    assert pulled.returncode == 0, pulled.stderr
    assert (clone / "models" / "model.onnx").read_bytes() == (repo / "models" / "model.onnx").read_bytes()
    assert ran(dvc(clone, "repro")) == set()  # nothing retrained

    # and the pulled model serves batch inference, with Keras's answers
    digits = load_npz(clone / "data" / "raw" / "mnist.npz")["x_test"][:50]
    np.save(clone / "digits.npy", digits)
    result = run_script(
        "-m",
        "mnist_ann.cli",
        "predict",
        "--model",
        clone / "models" / "model.onnx",
        clone / "digits.npy",
        "--output",
        clone / "predictions.csv",
    )
    assert result.returncode == 0, result.stderr
    from mnist_ann.model import load_model

    expected = load_model(clone / "models" / "model.keras").predict(preprocess(digits), verbose=0)
    with open(clone / "predictions.csv") as fp:
        rows = list(csv.DictReader(fp))
    np.testing.assert_allclose([[float(r[f"prob_{d}"]) for d in range(10)] for r in rows], expected, atol=2e-6)
    assert [int(r["label"]) for r in rows] == expected.argmax(axis=1).tolist()


def test_committed_dvc_lock_matches_code_and_params():
    """dvc.lock must record the current code and params, or a fresh clone reruns stages it need not
    (and `dvc status` lies). Data and models may be absent here (a clean clone has none: "deleted"),
    so only deps that exist and differ count."""
    dvc = Path(sys.executable).parent / "dvc"
    status = json.loads(
        subprocess.run([dvc, "status", "--json"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    )
    stale = {
        stage: change
        for stage, changes in status.items()
        for change in changes
        if "changed params" in change
        or "changed command" in change
        or "modified" in change.get("changed deps", {}).values()
    }
    assert stale == {}, f"dvc.lock is stale, run `make repro` and commit it: {stale}"
