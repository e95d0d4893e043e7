"""report/: `mnist-ann compare A B --output report.md|.html` (issue 38). Two real ONNX models
(numpy references beside them) measured on the same pictures: every figure of the report is the
reference's, each paired difference has the textbook interval, the Markdown is tables a code-host
renders, the HTML loads nothing from elsewhere, text from files and stores is shown literally, and
against a real store the figures are the runs' own."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import yaml

from helpers import REPO, DenseNetwork, run_script
from mnist_ann.core.mnist import preprocess
from mnist_ann.training.data import load_split, save_split
from mnist_ann.training.evaluation.paired import Difference, mean_difference
from mnist_ann.training.evaluation.robustness import as_digits, variant_sets
from mnist_ann.training.evaluation.scores import score
from mnist_ann.training.report.figures import Row

TEST_IMAGES = 300


def compare(*args, cwd):
    """`mnist-ann compare` as a process: exit code and stderr as users see them."""
    return run_script("-m", "mnist_ann.cli", "compare", *args, cwd=cwd, timeout=300)


def report(root, a: str, b: str, output: str) -> str:
    """The report of workspaces `b` against `a` under `root`, written by the command's own function
    (in this process: the fast tier starts none), and read back."""
    from dataclasses import asdict

    from mnist_ann.training.params import load_params
    from mnist_ann.training.promotion import Rules
    from mnist_ann.training.report import write_report

    rules = Rules(**asdict(load_params(root / "params.yaml").promote))
    write_report(str(root / a), str(root / b), root / output, root=root, rules=rules, data=root / "data")
    return (root / output).read_text()


def workspace(folder, network: DenseNetwork, epochs: int, accuracy: float):
    """A workspace as the pipeline leaves one: dvc.lock (train.epochs set), evaluate.json and the
    export stage's model.onnx (`network`'s)."""
    (folder / "models").mkdir(parents=True)
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    lock["stages"]["train"]["params"]["params.yaml"]["train"]["epochs"] = epochs
    (folder / "dvc.lock").write_text(yaml.safe_dump(lock))
    (folder / "metrics").mkdir()
    (folder / "metrics" / "evaluate.json").write_text(f'{{"test_accuracy": {accuracy}, "test_loss": 0.5}}')
    network.save_onnx(folder / "models" / "model.onnx")
    return folder


@pytest.fixture(scope="module")
def two_workspaces(tmp_path_factory):
    """Workspaces a (5 epochs) and b (30 epochs) whose models are two different networks, and a test
    split labelled mostly as b reads it, so that b is clearly better; (root, network a, network b)."""
    root = tmp_path_factory.mktemp("compare")
    a, b = DenseNetwork(seed=11), DenseNetwork(seed=12)
    rng = np.random.default_rng(3)
    digits = rng.integers(0, 256, (TEST_IMAGES, 28, 28), dtype=np.uint8)
    pixels = preprocess(digits)
    labels = b.predict(pixels).argmax(axis=1)
    relabelled = rng.random(TEST_IMAGES) < 0.2
    labels[relabelled] = rng.integers(0, 10, relabelled.sum())
    save_split(root / "data", "test", pixels, labels.astype(np.uint8))
    shutil.copy(REPO / "params.yaml", root / "params.yaml")  # the gate's thresholds
    workspace(root / "a", a, epochs=5, accuracy=0.5)
    workspace(root / "b", b, epochs=30, accuracy=0.75)
    return root, a, b


def rows_of(report: str, heading: str) -> dict[str, list[str]]:
    """The table under `heading`, as {first cell: the other cells}."""
    section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return {cells[0]: cells[1:] for cells in map(cells_of, lines[2:])}


def cells_of(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


@pytest.mark.heavy  # a workspace's lineage asks git (a process)
def test_every_figure_is_the_references_with_the_paired_interval(two_workspaces):
    root, network_a, network_b = two_workspaces
    text = report(root, "a", "b", "r.md")

    pixels, labels = load_split(root / "data", "test")
    a, b = score(network_a.predict(pixels), labels), score(network_b.predict(pixels), labels)
    right_a = network_a.predict(pixels).argmax(axis=1) == labels
    right_b = network_b.predict(pixels).argmax(axis=1) == labels
    interval = mean_difference(right_b, right_a, 0.95)
    test = rows_of(text, "Test set, image by image")
    shown = [f"{a['accuracy']:.4f}", f"{b['accuracy']:.4f}", f"{b['accuracy'] - a['accuracy']:+.4f}"]
    assert test["test accuracy"][:3] == shown
    assert test["test accuracy"][3] == f"{interval.low:+.4f} to {interval.high:+.4f}"
    assert test["test accuracy"][4].startswith("**better**; McNemar p=")
    assert test["test loss"][:2] == [f"{a['loss']:.4f}", f"{b['loss']:.4f}"]
    digits = rows_of(text, "Each digit (recall)")
    for digit, recall in a["recall"].items():
        if (labels == int(digit)).any():
            assert digits[f"recall of {digit}"][:2] == [f"{recall:.4f}", f"{b['recall'][digit]:.4f}"]
    variants = rows_of(text, "Robustness variants")
    for name, (images, truth, refused) in variant_sets(as_digits(pixels), labels).items():
        right = network_b.predict(preprocess(images)).argmax(axis=1) == truth
        if refused is not None:
            right &= ~refused
        assert variants[name][1] == f"{right.mean():.4f}", name
    confusion = rows_of(text, "Confusion matrices on the test set")
    for digit in range(10):
        counts = np.bincount(network_a.predict(pixels[labels == digit]).argmax(axis=1), minlength=10)
        assert confusion[str(digit)][:10] == [str(n) for n in counts]
    # the params that differ, the gate's decision, and what each workspace recorded
    assert rows_of(text, "Params that differ")["`train.epochs`"] == ["5", "30"]
    assert f"**refused**: test accuracy {b['accuracy']:.4f} is below the floor 0.95" in text
    assert rows_of(text, "Every figure the runs recorded")["evaluate.test_accuracy"] == [
        "0.5000",
        "0.7500",
        "+0.2500",
    ]


@pytest.mark.heavy  # a workspace's lineage asks git (a process)
def test_each_table_has_as_many_cells_in_every_row_as_its_header(two_workspaces):
    """What a code-hosting site needs to render a Markdown table."""
    root = two_workspaces[0]
    tables = re.findall(r"((?:^\|.*\n)+)", report(root, "a", "b", "tables.md"), re.M)
    assert len(tables) >= 8
    for table in tables:
        widths = {len(cells_of(line)) for line in table.splitlines()}
        assert len(widths) == 1, table


@pytest.mark.heavy  # a workspace's lineage asks git (a process)
def test_the_html_report_loads_nothing_from_elsewhere_and_shows_names_literally(two_workspaces):
    root = two_workspaces[0]
    lock_file = root / "b" / "dvc.lock"
    kept = lock_file.read_text()
    lock = yaml.safe_load(kept)
    lock["stages"]["train"]["params"]["params.yaml"]["train"]["<img src=http://x/>|x"] = "<script>1</script>"
    lock_file.write_text(yaml.safe_dump(lock))
    try:
        page = report(root, "a", "b", "r.html")
    finally:
        lock_file.write_text(kept)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<script" not in page and "<img" not in page and not re.search(r"<[a-z]+[^>]*\b(src|href)=", page)
    assert "&lt;img src=http://x/&gt;|x" in page and "&lt;script&gt;1&lt;/script&gt;" in page


@pytest.mark.heavy  # processes
def test_bad_arguments_fail_in_one_line_before_anything_is_measured(two_workspaces, tmp_path):
    root = two_workspaces[0]
    cases = {
        ("a", "b", "--output", "r.txt"): "compare: r.txt: the output must end in .md or .html",
        ("a", str(tmp_path), "--output", "bad.md"): "neither a models:/ URI nor a pipeline workspace",
        ("a", "models:/x", "--output", "bad.md"): "compare: models:/x: name a registered version",
    }
    (tmp_path / "lone").mkdir()
    shutil.copy(root / "a" / "dvc.lock", tmp_path / "lone" / "dvc.lock")
    cases[("a", str(tmp_path / "lone"), "--output", "bad.md")] = (
        "no models/model.onnx in the workspace (run `make repro`)"
    )
    for args, says in cases.items():
        done = compare(*args, "--data", "data", cwd=root)
        lines = done.stderr.strip().splitlines()
        assert done.returncode in (1, 2) and len(lines) == 1 and says in lines[0], (args, done.stderr)
    assert not (root / "r.txt").exists() and not (root / "bad.md").exists()


def test_a_change_is_better_or_worse_only_where_its_interval_excludes_none():
    assert Row("accuracy", 0.9, 0.95, interval=Difference(0.05, 0.01, 0.09)).verdict == "better"
    assert Row("accuracy", 0.9, 0.85, interval=Difference(-0.05, -0.09, -0.01)).verdict == "worse"
    assert Row("loss", 0.3, 0.2, True, Difference(-0.1, -0.2, -0.01)).verdict == "better"
    assert Row("accuracy", 0.9, 0.91, interval=Difference(0.01, -0.01, 0.03)).verdict == "no clear difference"
    assert Row("recorded", 0.9, 0.91).verdict == "" and Row("recorded", None, 0.91).change is None


@pytest.mark.heavy
def test_against_a_real_store_the_reports_figures_are_the_runs(trained, tmp_path):
    """The session's registered version against the workspace that made it: the same model, so
    every change is zero; and every figure is the one its run logged."""
    client, workdir = trained.client, trained.workdir
    (version,) = [v for v in client.search_model_versions("name='mnist-ann'") if v.run_id == trained.run_id]
    uri = f"models:/mnist-ann/{version.version}"
    env = {"MLFLOW_TRACKING_URI": client.tracking_uri}
    done = run_script("-m", "mnist_ann.cli", "compare", uri, ".", "--output", tmp_path / "r.md", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "r.md").read_text()
    logged = client.get_run(trained.run_id).data.metrics
    test = rows_of(report, "Test set, image by image")
    assert test["test accuracy"][:3] == [f"{logged['onnx_test_accuracy']:.4f}"] * 2 + ["+0.0000"]
    assert abs(float(test["test loss"][0]) - logged["test_loss"]) <= 1.5e-4  # ONNX's, Keras' within 1e-5 each
    digits = rows_of(report, "Each digit (recall)")
    assert all(digits[f"recall of {d}"][0] == f"{logged[f'recall_{d}']:.4f}" for d in range(10))
    variants = rows_of(report, "Robustness variants")
    for name, row in variants.items():
        key = "robust_mean" if name == "mean of the variants" else f"robust_{name}"
        assert row[:3] == [f"{logged[key]:.4f}"] * 2 + ["+0.0000"], name
    gate = rows_of(report, "The promotion gate")["`promotion` tag in the registry"]
    assert gate[0] == version.tags.get("promotion", "not recorded").replace("[", "\\[").replace("]", "\\]")
    # the gate on this tiny model (64 random test images): the floor refuses it, in figures
    assert f"**refused**: test accuracy {logged['onnx_test_accuracy']:.4f} is below the floor 0.95" in report
    assert rows_of(report, "Lineage")["MLflow run"] == [trained.run_id, trained.run_id]
    from mnist_ann.training.provenance import machine_description

    assert f"on {machine_description()};" in report and re.search(r"B takes \d+\.\d\dx A's time per image", report)
