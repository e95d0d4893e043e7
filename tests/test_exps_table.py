"""tools/exps_table.py, `make exps`: the experiments side by side within 120 columns, with and without
the `robust` experiment (eleven params changed: `dvc exp show`, narrowed, was over 260 characters wide with it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from test_robust_experiment import robust_command

from helpers import REPO, dvc, git, make_exps

sys.path.insert(0, str(REPO / "tools"))
from exps_table import blocks

METRICS = ("metrics/evaluate.json", "metrics/export.json", "metrics/robustness.json")


def test_a_table_too_wide_goes_on_in_blocks_with_the_row_names_again():
    table = [["", "workspace", "main", "a-long-experiment-name"], ["", "", "13ab662", "7a711e6"]]
    table += [["train.epochs", "5", "5", "30"], ["test_accuracy", "0.969", "0.969", "0.9908"]]
    lines = blocks(table, width=40)
    assert max(len(line) for line in lines) <= 40
    first, second = "\n".join(lines).split("\n\n")
    assert "workspace" in first and "main" in first and "a-long" not in first
    assert second.splitlines()[0].split() == ["a-long-experiment-name"]
    assert [line.split()[0] for line in second.splitlines()[2:]] == ["train.epochs", "test_accuracy"]
    assert second.splitlines()[2].split()[-1] == "30"


def _set(params: dict, dotted: str, value: str) -> None:
    *path, last = dotted.split(".")
    for key in path:
        params = params[key]
    params[last] = yaml.safe_load(value)


def _exps(repo) -> list[str]:
    done = make_exps(repo)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.heavy
def test_make_exps_fits_120_columns_with_and_without_the_robust_experiment(tmp_path):
    """A real DVC repository with the project's params.yaml and figures, and `make robust`'s params
    saved as the experiment `robust` (`dvc exp save`: the table is what is tested, not training)."""
    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    (repo / "tools").mkdir()
    shutil.copy(REPO / "Makefile", repo)
    shutil.copy(REPO / "params.yaml", repo)
    shutil.copy(REPO / "tools" / "exps_table.py", repo / "tools")
    for metrics in METRICS:
        shutil.copy(REPO / metrics, repo / metrics)
    stage = {"cmd": "true", "params": ["train"], "metrics": [{m: {"cache": False}} for m in METRICS]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": stage}}))
    git(repo, "init", "-q")
    assert dvc(repo, "init", "-q").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")

    alone = _exps(repo)
    assert max(len(line) for line in alone) <= 120, "\n".join(alone)
    assert alone[0].split() == ["workspace", "main"]
    # the params agree: no param row; the figures, from the files that hold them
    evaluated = json.loads((REPO / "metrics" / "evaluate.json").read_text())
    assert [line.split()[0] for line in alone[2:]] == ["test_accuracy", "test_loss", "parity", "robustness"]
    assert alone[2].split()[1:] == [f"{evaluated['test_accuracy']:.5g}"] * 2

    command = robust_command()
    settings = [command[i + 1] for i, word in enumerate(command) if word == "-S"]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for setting in settings:
        _set(params, *setting.split("=", 1))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    evaluated["test_accuracy"] = 0.9908  # what the robust model reads (its figures differ from main's)
    (repo / "metrics" / "evaluate.json").write_text(json.dumps(evaluated))
    saved = dvc(repo, "exp", "save", "-n", "robust")
    assert saved.returncode == 0, saved.stderr
    git(repo, "checkout", "--", "params.yaml", "metrics")

    both = _exps(repo)
    assert max(len(line) for line in both) <= 120, "\n".join(both)
    assert both[0].split() == ["workspace", "main", "robust"]
    shown = {line.split()[0]: line.split()[1:] for line in both[2:]}
    for setting in settings:
        name, value = setting.split("=", 1)
        assert shown[name][-1] == value.replace(" ", ""), (name, shown[name])
        assert shown[name][0] == shown[name][1] != shown[name][-1]  # the workspace is main's again
    main_accuracy = json.loads((REPO / "metrics" / "evaluate.json").read_text())["test_accuracy"]
    assert shown["test_accuracy"] == [f"{main_accuracy:.5g}"] * 2 + ["0.9908"]


@pytest.mark.heavy
def test_outside_a_dvc_repository_it_says_so_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "exps_table.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: dvc exp show failed: ") and "not inside of a DVC repository" in line, line
