"""The workflows users come for, end to end, with the real DVC, MLflow and onnxruntime, on a copy
of this repository with small params (2000 training images, 500 test images, 2 epochs):
repro and what reruns, params/metrics/plots diffs, experiments and a queued parallel sweep landing
in the main MLflow store, the MLflow server's REST API comparing runs, and a DVC remote."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from html import unescape
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers import (
    REPO,
    STAGES,
    VENV_BIN,
    all_runs,
    dvc,
    git,
    make_exps,
    popen_with_default_signals,
    ran,
    run_queue,
    run_script,
    store,
    wait_for_mlflow_server,
    write_params,
)
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.npy import load_npz

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
    assert run.data.tags["mnist_ann.model_sha256"] == sha256_of(baseline / "models" / "model.keras")
    # issue 38: the first run's version is the champion, by the floor alone, and says so
    client = store(baseline)
    assert client.get_registered_model("mnist-ann").aliases == {"champion": 1}
    assert client.get_model_version("mnist-ann", "1").tags["promotion"].startswith("promoted: the first champion")
    # a clean checkout's run is clean (DVC deleting the git-tracked outputs does not count), and is
    # named after its commit (issue 13)
    commit = git(baseline, "rev-parse", "HEAD~1").strip()
    assert run.data.tags["git.dirty"] == "false" and run.data.tags["mlflow.source.git.commit"] == commit
    assert run.info.run_name == commit[:7]


def test_second_repro_runs_nothing(repo):
    assert ran(dvc(repo, "repro")) == set()
    status = dvc(repo, "status")
    assert status.stdout.strip() == "Data and pipelines are up to date.", status.stdout + status.stderr


def test_param_change_reruns_downstream_only(two_runs):
    repo, result = two_runs
    assert ran(result) == {"train", "evaluate", "export"}
    runs = all_runs(repo)
    assert len(runs) == 2
    assert runs[-1].info.run_name == f"{git(repo, 'rev-parse', '--short=7', 'HEAD').strip()} train.learning_rate=0.005"
    assert runs[-1].data.tags["git.dirty"] == "true" and runs[-1].data.tags["git.changed"] == "params.yaml"


def test_code_change_reruns_the_stages_that_import_it(repo):
    with open(repo / "src" / "mnist_ann" / "training" / "evaluation" / "scores.py", "a") as fp:
        fp.write("\n# a comment changes the file's hash, as any edit would\n")
    assert ran(dvc(repo, "repro")) == {"evaluate", "export"}  # export's promotion gate measures with it too


def test_an_edit_inside_predict_leaves_the_pipeline_up_to_date(repo):
    """The inference tool is imported by no stage: editing any of its modules reruns nothing, and
    `dvc status` stays clean (a shared module edited reruns what imports it: the test above)."""
    for path in sorted((repo / "src" / "mnist_ann" / "predict").rglob("*.py")):
        with open(path, "a") as fp:
            fp.write("\n# an edit of the inference tool\n")
    status = dvc(repo, "status", "--json")
    assert (status.returncode, json.loads(status.stdout)) == (0, {}), status.stderr
    assert ran(dvc(repo, "repro")) == set()


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
    for title in (
        "Training and validation accuracy and loss",
        "Confusion matrix",
        "Accuracy on variants of the test set",
    ):
        assert title in html
    # each figure once (issue 42): the curves and the confusion matrix are charts, not PNGs as well
    pngs = [png.name for png in (tmp_path / "plots").rglob("*.png")]  # DVC names them {rev}_{path}
    assert pngs and all(name.endswith("_plots_evaluate_predictions.png") for name in pngs), pngs
    # offline (issue 13): vega, vega-lite and vega-embed are in the page, not fetched from a CDN, and
    # test_predictions.csv is drawn as the confusion matrix, not as a meaningless 10,000-step line
    assert "<script src=" not in html and 'data-package="vega-embed@' in html
    embed = html.index("vegaEmbed('#metrics_test_predictions_csv'")
    predictions_spec = html[html.rindex("var spec", 0, embed) : embed]
    assert '"rect"' in predictions_spec and '"line"' not in predictions_spec
    charts = rendered_charts(tmp_path / "plots" / "index.html", tmp_path / "chromium")
    # issue 23: one chart per file; DVC drew the history a second time, against a `step` axis
    assert set(charts) == {"metrics_test_predictions_csv", "metrics_train_history_csv", "metrics_robustness_csv"}
    assert '"field": "step"' not in html
    # issue 42: drawn (marks, not a blank frame), each revision named in the legend and drawn in its own
    # colour, the true digit on rows as in the card, the variants in the evaluation's order, mean apart
    revisions = ["workspace"] if command == ["plots", "show"] else ["main", "workspace"]
    history, confusion, variants = (
        charts[f"metrics_{n}_csv"] for n in ("train_history", "test_predictions", "robustness")
    )
    assert all(chart.marks > 10 for chart in charts.values()), charts
    assert revisions_named(history.texts, revisions) and revisions_named(variants.texts, revisions)
    assert {"training (solid)", "validation on the test set (dashed)"} <= set(history.texts)
    assert {"actual", "predicted", *revisions} <= set(confusion.texts)  # a matrix per revision, named
    assert re.findall(r'"(x|y)": \{"field": "(\w+)"', predictions_spec)[:2] == [("x", "predicted"), ("y", "actual")]
    order = list(json.loads((repo / "metrics" / "robustness.json").read_text()))
    labels = [text for text in variants.texts if text in order]
    assert labels[: len(order)] == order and {"each variant", "their mean"} <= set(variants.texts)
    if command == ["plots", "show"]:  # without -o, into dvc_plots/, which git ignores
        assert dvc(repo, "plots", "show").returncode == 0 and (repo / "dvc_plots" / "index.html").exists()
        assert "dvc_plots" not in git(repo, "status", "--porcelain", "--untracked-files=all")


def revisions_named(texts: list[str], revisions: list[str]) -> bool:
    """Whether a chart's legend (its title "revision", then one label per revision) names them all."""
    return "revision" in texts and all(revision in texts for revision in revisions)


class Chart(NamedTuple):
    texts: list[str]  # every text of the chart's SVG, in document order: titles, axes, legends
    marks: int  # its paths: lines, points, bars and cells (a blank chart has its axes' few)


def rendered_charts(page: Path, profile: Path) -> dict[str, Chart]:
    """The charts that vega-embed drew on `page` (as SVG: .dvc/plots/offline.html asks for it), by
    id, as headless Chromium runs it with every host name unresolvable (no network), its DOM
    dumped once the page's scripts have run."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): the page is not rendered")
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND", "--disable-background-networking", "--disable-quic"]
    quiet = ["--no-first-run", "--disable-component-update", "--disable-sync", "--disable-gpu", "--no-sandbox"]
    run_scripts = ["--virtual-time-budget=20000", f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [chromium, "--headless", *offline, *quiet, *run_scripts, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    drawn = re.finditer(
        r'<div id="([^"]+)" class="vega-embed[^"]*"><div class="chart-wrapper"[^>]*>(<svg.*?</svg>)', dom, re.S
    )
    return {
        match[1]: Chart(
            [unescape(t) for t in re.findall(r"<text[^>]*>([^<]+)</text>", match[2])], match[2].count("<path")
        )
        for match in drawn
    }


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


@pytest.fixture(scope="module")
def ui(two_runs):
    """`make ui PORT=...` (the README's command, its recipe taken from the Makefile with this suite's
    venv) serving the store of the two runs on loopback: its base URL."""
    repo, _ = two_runs
    port = _free_port()
    venv = VENV_BIN.parent
    recipe = (
        subprocess.run(
            ["make", "-s", "-n", "-o", f"{venv}/.synced", "ui", f"PORT={port}", f"VENV={venv}"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.splitlines()[-1]
        .split()
    )
    assert recipe[-4:] == ["--host", "127.0.0.1", "--port", str(port)], recipe
    server = popen_with_default_signals(
        recipe, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_mlflow_server(base, server)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_mlflow_server_compares_runs(ui):
    """Through the server's REST API, two runs with different params each carry params, per-epoch
    curves, test accuracy, the ONNX parity figures and what they changed."""
    experiment = _rest(ui, "experiments/get-by-name?experiment_name=mnist-ann")["experiment"]
    runs = _rest(ui, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert len(runs) == 2
    rates = set()
    for run in runs:
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        rates.add(params["train.learning_rate"])
        assert params["train.epochs"] == "2" and params["train.hidden_units"] == "[256, 128, 64, 32]"
        assert 0.8 < metrics["test_accuracy"] <= 1
        assert metrics["parity_argmax_agreement"] == 1.0 and metrics["parity_max_abs_diff"] <= 1e-5
        changed = "none" if params["train.learning_rate"] == "0.01" else "train.learning_rate=0.005"
        assert tags["params.changed"] == changed and tags["mlflow.note.content"].endswith(": " + changed)
        run_id = run["info"]["run_id"]
        curve = _rest(ui, f"metrics/get-history?run_id={run_id}&metric_key=val_accuracy")["metrics"]
        assert sorted(point["step"] for point in curve) == [1, 2]
    assert rates == {"0.01", "0.005"}


def test_the_ui_opens_the_experiment_on_its_runs_table_with_the_projects_columns(ui, two_runs, tmp_path):
    """Issue 23: MLflow 3.17's UI opened the experiment on a GenAI overview of traces ("No data"),
    whose sidebar has no Models entry. Issue 42: its runs table showed no metric column until
    *Columns* was used. The link `make ui` prints opens the model-training view on the runs table in
    the pipeline's saved view: both runs, what each changed and its test accuracy, the model registry
    in the sidebar. Rendered by headless Chromium with every host name but 127.0.0.1 unresolvable."""
    repo, _ = two_runs
    experiment = _rest(ui, "experiments/get-by-name?experiment_name=mnist-ann")["experiment"]
    tags = {tag["key"]: tag["value"] for tag in experiment["tags"]}
    assert tags["mlflow.experimentKind"] == "custom_model_development"  # for UIs that read it; 3.17's does not
    link = _printed_link(repo, ui)
    runs_page = f"{ui}/#/experiments/{experiment['experiment_id']}/runs"
    assert link == f"{runs_page}?viewStateShareKey=mnist-ann&workflowType=machine_learning", link
    dom = _chromium(link, tmp_path, "--dump-dom", "--window-size=1600,900")  # the grid draws the columns in sight
    runs = _rest(ui, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    names = [run["info"]["run_name"] for run in runs]
    assert len(names) == 2 and all(f">{name}<" in dom for name in names), dom[-3000:]
    assert "Model registry" in dom and "Detect Issues" not in dom and "Traces</" not in dom.split("Runs", 1)[0]
    assert "mnist-ann: changes and figures" in dom  # the view, named in *Views*
    for column in ("params.changed", "test_accuracy"):  # the first columns: drawn whatever the width
        assert f">{column}<" in dom, column
    assert ">train.learning_rate=0.005<" in dom and ">none<" in dom  # each run's change, in its row
    accuracy = {run["info"]["run_name"]: _metric(run, "test_accuracy") for run in runs}
    assert all(f">{str(value)[:4]}" in dom for value in accuracy.values()), accuracy  # shown rounded
    shot_path = tmp_path / "runs.png"
    _chromium(link, tmp_path, f"--screenshot={shot_path}", "--window-size=1600,900")
    shot = np.asarray(Image.open(shot_path).convert("L"))
    assert shot.shape == (900, 1600) and shot.std() > 10  # drawn, not a blank page
    # Compare, as its button opens it, with the view in the address: each download source in words
    ids = quote(json.dumps([run["info"]["run_id"] for run in runs]))
    experiments = quote(json.dumps([experiment["experiment_id"]]))
    compare = f"{ui}/#/compare-runs?runs={ids}&experiments={experiments}&workflowType=machine_learning"
    dom = _chromium(compare, tmp_path, "--dump-dom")
    assert "Model registry" in dom and ">download.sources.0<" in dom and ">train.learning_rate<" in dom, dom[-3000:]


def _metric(run: dict, name: str) -> float:
    return next(m["value"] for m in run["data"]["metrics"] if m["key"] == name)


def _printed_link(repo: Path, base: str) -> str:
    """The address `make ui` tells the user to open, for the server at `base`: its recipe's first
    line (tools/ui_address.py), run as make would run it."""
    port = base.rsplit(":", 1)[1]
    venv = VENV_BIN.parent
    lines = subprocess.run(
        ["make", "-s", "-n", "-o", f"{venv}/.synced", "ui", f"PORT={port}", f"VENV={venv}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "tools/ui_address.py" in lines[0], lines
    printed = subprocess.run(lines[0], shell=True, cwd=repo, capture_output=True, text=True, check=True).stdout
    (link,) = re.findall(r"http://127\.0\.0\.1:\d+/\S*", printed)
    return link


def _chromium(page: str, tmp_path: Path, *action: str) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): the UI is not rendered")
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-background-networking"]
    quiet = ["--no-first-run", "--disable-component-update", "--disable-sync", "--disable-gpu", "--no-sandbox"]
    scripts = ["--virtual-time-budget=30000", f"--user-data-dir={tmp_path / 'profile'}"]
    result = subprocess.run(
        [chromium, "--headless", *offline, *quiet, *scripts, *action, page],
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result.stdout


def test_four_parallel_experiments_land_in_the_main_store(repo):
    # Four at once against the one SQLite store (on two cores: slow, and the worst case for locking),
    # one named. None equals the baseline's 0.01: DVC would restore that one from its run cache.
    named = dvc(repo, "exp", "run", "--queue", "-n", "slow-lr", "-S", "train.learning_rate=0.001")
    queued = dvc(repo, "exp", "run", "--queue", "-S", "train.learning_rate=0.02,0.005,0.002")
    assert named.returncode == queued.returncode == 0, named.stderr + queued.stderr
    sweep, dvc_hung = run_queue(repo, jobs=4)
    assert sweep.returncode == 0 or dvc_hung, sweep.stdout + sweep.stderr
    assert "database is locked" not in sweep.stdout + sweep.stderr

    runs = all_runs(repo)  # the main repo's store: runs made in .dvc/tmp/exps copies are not lost
    assert len(runs) == 5 and all(run.info.status == "FINISHED" for run in runs)
    by_experiment = {run.data.tags.get("dvc.experiment"): run for run in runs[1:]}
    assert len(by_experiment) == 4 and "slow-lr" in by_experiment and None not in by_experiment
    rates = sorted(run.data.params["train.learning_rate"] for run in runs[1:])
    assert rates == ["0.001", "0.002", "0.005", "0.02"]
    assert all("test_accuracy" in run.data.metrics and "parity_max_abs_diff" in run.data.metrics for run in runs)

    shown = dvc(repo, "exp", "show", "--csv")
    assert shown.returncode == 0, shown.stderr
    table = list(csv.DictReader(shown.stdout.splitlines()))
    assert {row["Experiment"] for row in table if row.get("Experiment")} == set(by_experiment)
    for name, run in by_experiment.items():
        assert run.info.run_name == name  # each experiment of `dvc exp show` is the MLflow run of its name
        # issue 23: the run says what the experiment changed, not only that params.yaml differs
        assert run.data.tags["params.changed"] == f"train.learning_rate={run.data.params['train.learning_rate']}"

    # `make exps`: the experiments on a 120-column terminal, with the param they differ in
    exps = make_exps(repo)
    assert exps.returncode == 0, exps.stderr
    lines = exps.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120, exps.stdout
    assert set(lines[0].split()) == {"workspace", "main", *by_experiment}, exps.stdout  # one column each
    rows = [line.split()[0] for line in lines[2:] if line]
    assert rows == ["train.learning_rate", "test_accuracy", "test_loss", "parity", "robustness"], exps.stdout

    applied = dvc(repo, "exp", "apply", "slow-lr")
    assert applied.returncode == 0, applied.stderr
    assert "learning_rate: 0.001" in (repo / "params.yaml").read_text()
    # the applied experiment's model is the one its run trained (found by the model file's sha256)
    assert by_experiment["slow-lr"].data.tags["mnist_ann.model_sha256"] == sha256_of(repo / "models" / "model.keras")


def test_remote_push_then_pull_in_a_fresh_clone(repo, tmp_path):
    remote = tmp_path / "remote"
    assert dvc(repo, "remote", "add", "-d", "local", str(remote)).returncode == 0
    git(repo, "commit", "-qam", "a local DVC remote")
    pushed = dvc(repo, "push")
    assert pushed.returncode == 0, pushed.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / "models" / "model.onnx").exists()
    for command in (["metrics", "show"], ["metrics", "diff", "--all"]):  # git alone holds HEAD's metrics (issue 13)
        shown = dvc(clone, *command)
        assert shown.returncode == 0 and "test_accuracy" in shown.stdout, shown.stdout + shown.stderr
        assert "failed to load" not in shown.stdout + shown.stderr, shown.stdout + shown.stderr
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
    from mnist_ann.training.model import load_model

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


def test_a_clone_sharing_the_dvc_cache_makes_one_complete_run_not_orphans(repo, tmp_path):
    """Issue 13: two clones share one DVC cache, each with its own mlflow.db. In the second, train's
    outputs come from the cache (trained in the first), so no run of its store trained the model;
    evaluate and export each started a nearly empty run. Now they make one run that
    restores train's record (params, tags, per-epoch curves) and carry on in it."""
    (original,) = all_runs(repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert dvc(clone, "cache", "dir", "--local", str(repo / ".dvc" / "cache")).returncode == 0
    with open(
        clone / "src" / "mnist_ann" / "training" / "trained.py", "a"
    ) as fp:  # evaluate and export import it; train does not
        fp.write("\n# a teammate's edit\n")
    assert ran(dvc(clone, "repro")) == {"evaluate", "export"}

    (run,) = all_runs(clone)
    assert run.data.tags["mnist_ann.model_sha256"] == original.data.tags["mnist_ann.model_sha256"]
    assert "restored" in run.data.tags["mnist_ann.restored"]
    assert run.data.params == original.data.params and run.info.status == "FINISHED"
    for tag in ("data.md5", "version.keras"):
        assert run.data.tags[tag] == original.data.tags[tag], tag
    assert run.data.tags["mlflow.source.git.commit"] == git(clone, "rev-parse", "HEAD").strip()
    assert (
        run.info.run_name == f"{git(clone, 'rev-parse', '--short=7', 'HEAD').strip()} src/mnist_ann/training/trained.py"
    )
    assert run.data.tags["git.changed"] == "src/mnist_ann/training/trained.py"
    client = store(clone)
    for metric in ("loss", "val_accuracy"):
        steps = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, metric)]
        assert steps == [(m.step, m.value) for m in store(repo).get_metric_history(original.info.run_id, metric)]
    assert run.data.metrics["test_accuracy"] == original.data.metrics["test_accuracy"]
    assert run.data.metrics["parity_argmax_agreement"] == 1.0
    (version,) = client.search_model_versions("name = 'mnist-ann'")
    assert version.run_id == run.info.run_id
    # issue 25: the restored run's version still gets its card, with the figures and lineage it carries
    done = subprocess.run(
        [Path(sys.executable).parent / "mnist-ann", "card", "models:/mnist-ann/1", "--output", "c.md"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    card = (clone / "c.md").read_text()
    accuracy = json.loads((clone / "metrics" / "evaluate.json").read_text())["test_accuracy"]
    assert f"| test accuracy | {accuracy:.4f} |" in card and f"| mlflow_run_id | {run.info.run_id} |" in card
    assert f"| version.keras | {original.data.tags['version.keras']} |" in card


def test_dvc_repro_typed_as_the_readme_writes_it_runs_the_stages_in_dvcs_environment(repo, tmp_path):
    """Issue 13: `.venv/bin/dvc repro` from a shell without the venv ran the stages with the first
    `python` on PATH, which lacks the project: a ModuleNotFoundError traceback, after DVC had deleted
    the stage's outputs. The stage now runs again with the interpreter DVC itself runs in."""
    bare = tmp_path / "bin"
    bare.mkdir()
    base_python = Path(sys.executable).resolve()  # the interpreter the venv was made from
    (bare / "python").symlink_to(base_python)
    lacks = subprocess.run([str(bare / "python"), "-c", "import mnist_ann"], capture_output=True)
    if lacks.returncode == 0:
        pytest.skip(f"{base_python} has mnist_ann installed: no python without the project to try")
    env = {**os.environ, "PATH": f"{bare}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(
        [str(VENV_BIN / "dvc"), "repro", "--force", "--single-item", "preprocess"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output[-3000:]
    assert f"{bare / 'python'} has no mnist_ann: running the stage with DVC's {VENV_BIN / 'python'}" in output
    status = dvc(repo, "status")
    assert status.stdout.strip() == "Data and pipelines are up to date.", status.stdout + status.stderr


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_fresh_clones_repro_leaves_git_status_clean_and_the_documented_way_back_works(repo, tmp_path):
    """Issue 38: models/mlflow_run.json (the run id, a DVC output) made every fresh `make repro` leave
    dvc.lock modified, and docs/experiments.md's way back to the committed state then failed (exit
    255: the committed run-id file was in no cache). Now nothing machine-specific is an output: a
    fresh clone (no DVC cache, no MLflow store) reproduces the committed lock, and the way back,
    typed as the docs write it, leaves `dvc status` and `git status` clean."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert ran(dvc(clone, "repro")) == set(STAGES)
    assert git(clone, "status", "--porcelain") == ""
    (run,) = all_runs(clone)
    assert run.data.tags["mnist_ann.model_sha256"] == sha256_of(clone / "models" / "model.keras")

    # a one-epoch smoke run, in the workspace as the docs warn: registered, refused, the champion stays
    experiment = dvc(clone, "exp", "run", "-S", "train.epochs=1")
    assert experiment.returncode == 0, experiment.stderr[-3000:]
    assert git(clone, "status", "--porcelain") != ""
    client = store(clone)
    assert client.get_registered_model("mnist-ann").aliases == {"champion": 1}
    promotion = client.get_model_version("mnist-ann", "2").tags["promotion"]
    assert promotion.startswith("refused: test accuracy may be more than 0.005 below"), promotion
    assert "vs" in promotion and "(version 1)" in promotion and "McNemar p=" in promotion
    docs = (REPO / "docs" / "experiments.md").read_text()
    (way_back,) = re.findall(r"To get the committed\s+state back: `([^`]+)`", docs)
    typed = subprocess.run(way_back, shell=True, cwd=clone, capture_output=True, text=True, env=_venv_env())
    assert typed.returncode == 0, typed.stdout + typed.stderr
    status = dvc(clone, "status")
    assert status.stdout.strip() == "Data and pipelines are up to date.", status.stdout + status.stderr
    assert git(clone, "status", "--porcelain") == ""


def _venv_env() -> dict[str, str]:
    """The environment a user has after `source .venv/bin/activate`: the venv's dvc first on PATH."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
