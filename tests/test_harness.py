"""training/harness.py: every stage starts and ends in one order: arguments, the params digest, the
params, the numerics pinned (before any tag records them), the work, the digest checked again."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, STAGES, write_params
from mnist_ann.core.errors import ParamsError
from mnist_ann.training.harness import stage, stage_arguments
from mnist_ann.training.numerics import PINNED


def test_stage_arguments_are_required_paths(capsys):
    args = stage_arguments(
        "doc",
        ["--data", "d", "--robustness-plot", "r.csv", "--plots", "p"],
        ("data", "robustness_plot"),
        {"plots": "x"},
    )
    assert (args.params, args.data, args.robustness_plot, args.plots) == (
        Path("params.yaml"),
        Path("d"),
        Path("r.csv"),
        Path("p"),
    )
    with pytest.raises(SystemExit):
        stage_arguments("doc", ["--data", "d"], ("data",), {"plots": "folder for the plots"})
    assert "--plots" in capsys.readouterr().err


@pytest.fixture
def params_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_params(tmp_path / "params.yaml", {}, base=REPO / "params.yaml")


def test_a_parameter_file_edited_while_the_stage_ran_fails_the_stage(params_file):
    edited = pytest.raises(ParamsError, match="changed while the stage ran")
    with edited, stage("preprocess", None, ["--params", str(params_file)], ()) as run:
        assert run.params.train.epochs == 5
        write_params(params_file, {"train.epochs": 3})


def test_a_parameter_file_left_alone_passes_and_a_stage_may_check_it_earlier(params_file):
    with stage("preprocess", None, ["--params", str(params_file)], ()) as run:
        run.check_params_unchanged()
    params_file.write_text(params_file.read_text() + "# an edit after the stage ended is not the stage's\n")


def test_a_bad_parameter_fails_before_the_numerics_are_touched(params_file, monkeypatch):
    for name in PINNED:
        monkeypatch.delenv(name, raising=False)
    write_params(params_file, {"train.epochs": 0})
    with pytest.raises(ParamsError, match=r"train\.epochs"), stage("train", None, ["--params", str(params_file)], ()):
        pass
    assert [name for name in PINNED if name in os.environ] == []


@pytest.mark.heavy
@pytest.mark.heavy
def test_the_runs_numerics_tag_says_what_the_process_computes_with(params_file):
    """The leak the harness closes: train recorded its `numerics` tag before start_keras pinned the
    numerics, so a stage started from a plain shell (none of the variables set) tagged its run
    `native: ...=unset` while its weights were trained pinned. A fresh process, as DVC starts one."""
    probe = (
        "import sys\nfrom mnist_ann.training.harness import stage\n"
        "with stage('train', None, ['--params', sys.argv[1]], ()) as run:\n    print(run.tags()['numerics'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in PINNED and k != "MNIST_ANN_NUMERICS"}
    done = subprocess.run([sys.executable, "-c", probe, str(params_file)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pinned:"), done.stdout


@pytest.mark.heavy  # provenance runs git
def test_the_native_setting_is_recorded_as_native(params_file, monkeypatch):
    for name in PINNED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MNIST_ANN_NUMERICS", "native")
    with stage("train", None, ["--params", str(params_file)], ()) as run:
        assert run.tags()["numerics"].startswith("native:")


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_script_runs_its_work_inside_the_harness(name):
    """The guard and the order hold for all five stages only if each main() enters `stage(<its name>)`."""
    tree = ast.parse((REPO / "pipeline" / f"{name}.py").read_text())
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    entered = [
        item.context_expr.args[0].value
        for node in ast.walk(main)
        if isinstance(node, ast.With)
        for item in node.items
        if isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", None) == "stage"
    ]
    assert entered == [name]
