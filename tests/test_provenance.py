"""provenance.py: where a run came from, as tags: git commit, DVC experiment, data hash, versions,
CPU; reading them never fails."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import REPO, git
from mnist_ann.training.params import changed_params, load_params
from mnist_ann.training.provenance import (
    changed_files,
    committed_text,
    data_hash,
    pipeline_outputs,
    provenance_tags,
    run_label,
)

# Every test here starts a process (the command, a stage, git or a decoding pool): not in `make check`.
pytestmark = pytest.mark.heavy


def test_provenance_tags(tmp_path, monkeypatch):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  preprocess:\n    outs:\n    - path: data/processed\n      md5: abc123.dir\n"
    )
    monkeypatch.setenv("DVC_EXP_NAME", "bold-cat")
    tags = provenance_tags(tmp_path)
    assert data_hash(tmp_path) == "abc123.dir" and tags["data.md5"] == "abc123.dir"
    assert tags["dvc.experiment"] == "bold-cat"
    assert tags["version.keras"].startswith("3.") and tags["version.mlflow"]
    assert "cores)" in tags["cpu"]
    assert "mlflow.source.git.commit" not in tags  # tmp_path is no git checkout


def checkout(tmp_path):
    """A git checkout with the project's dvc.yaml and params.yaml, and a committed pipeline output."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "train.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "start")
    return tmp_path


def test_the_pipelines_own_outputs_do_not_make_a_run_dirty(tmp_path):
    """Issue 13: DVC deletes a stage's git-tracked outputs before running it, so `git.dirty` was true
    on every run, a clean clone's first one included."""
    root = checkout(tmp_path)
    (root / "metrics" / "train.json").unlink()  # as DVC does before the train stage runs
    (root / "dvc.lock").write_text("stages: {}\n")
    assert changed_files(root) == []
    tags = provenance_tags(root)
    assert tags["git.dirty"] == "false" and "git.changed" not in tags and "git.diff.md5" not in tags
    assert pipeline_outputs(root) >= {"metrics/train.json", "models/model.keras", "data/processed", "dvc.lock"}


def test_a_changed_file_makes_a_run_dirty_and_is_named(tmp_path):
    root = checkout(tmp_path)
    (root / "code.py").write_text("x = 2\n")
    first = provenance_tags(root)
    assert first["git.dirty"] == "true" and first["git.changed"] == "code.py"
    (root / "code.py").write_text("x = 3\n")
    second = provenance_tags(root)
    assert len(first["git.diff.md5"]) == 32 and second["git.diff.md5"] != first["git.diff.md5"]


def test_a_tracked_file_that_is_not_utf8_is_a_change_not_a_traceback(tmp_path):
    """Issue 26 (15): a Latin-1 `café` in a tracked README failed the train stage (a strict decode
    of `git diff`): UnicodeDecodeError, the run FAILED, nothing trained."""
    root = checkout(tmp_path)
    (root / "README.md").write_bytes("caf\u00e9\n".encode("latin-1"))
    git(root, "add", "README.md")
    git(root, "commit", "-qm", "a Latin-1 readme")
    (root / "README.md").write_bytes("caf\u00e9 cr\u00e8me\n".encode("latin-1"))
    first = provenance_tags(root)
    assert first["git.dirty"] == "true" and first["git.changed"] == "README.md"
    (root / "README.md").write_bytes("caf\u00e9 cr\u00e8me!\n".encode("latin-1"))
    assert provenance_tags(root)["git.diff.md5"] != first["git.diff.md5"]


def test_run_label_names_the_commit_and_what_differs(tmp_path):
    root = checkout(tmp_path)
    commit = git(root, "rev-parse", "--short=7", "HEAD").strip()
    assert run_label(root, {}) == commit
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("learning_rate: 0.01", "learning_rate: 0.005"))
    (root / "code.py").write_text("x = 2\n")
    changed = changed_params(load_params(root / "params.yaml"), committed_text(root, "params.yaml"))
    assert changed == {"train.learning_rate": 0.005}
    assert run_label(root, changed) == f"{commit} train.learning_rate=0.005, code.py"
    assert committed_text(root, root / "params.yaml") == text.strip()  # an absolute path inside the checkout
    assert committed_text(root, "absent.yaml") is None and changed_params(load_params(root / "params.yaml"), None) == {}


def test_a_workspaces_git_config_runs_nothing_while_its_lineage_is_read(tmp_path):
    """Issue 37 (6): `mnist-ann card DIR` runs git inside DIR, and a workspace whose .git/config sets
    `core.fsmonitor` ran that command (git trusts the config of a tarball the user unpacked: they
    own it). Its fsmonitor hook, clean filters and textconv drivers now run for none of the reads."""
    root = checkout(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    hook = tmp_path / "fsmonitor-hook"
    hook.write_text(f"#!/bin/sh\ntouch {marks}/fsmonitor\n")
    hook.chmod(0o755)
    git(root, "config", "core.fsmonitor", str(hook))
    git(root, "config", "filter.evil.clean", f"touch {marks}/clean; cat")
    git(root, "config", "diff.evil.textconv", f"touch {marks}/textconv; cat")
    (root / ".gitattributes").write_text("* filter=evil diff=evil\n")
    git(root, "add", ".gitattributes")
    git(root, "commit", "-qm", "attributes")
    (root / "code.py").write_text("x = 2\n")  # a change: status, diff and show read it
    for found in list(marks.iterdir()):
        found.unlink()
    tags = provenance_tags(root)
    committed_text(root, "code.py")
    run_label(root, {})
    assert tags["git.dirty"] == "true" and tags["git.changed"] == "code.py"
    assert sorted(p.name for p in marks.iterdir()) == []
    # the same reads without the guard run all three: the test can fail
    subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, check=True)
    subprocess.run(["git", "diff", "HEAD"], cwd=root, capture_output=True, check=True)
    assert {"fsmonitor", "clean", "textconv"} <= {p.name for p in marks.iterdir()}
