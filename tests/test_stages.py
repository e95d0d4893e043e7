"""The download and preprocess stage scripts as DVC runs them: separate processes, params from a
file, one line and exit 1 on an expected error, nothing left at the output path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, run_script, tiny_mnist
from mnist_ann.data import load_npy, preprocess, save_npz

DOWNLOAD = REPO / "pipeline" / "download.py"
PREPROCESS = REPO / "pipeline" / "preprocess.py"


def params_file(tmp_path, **sections) -> str:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for name, values in sections.items():
        raw[name].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_download_stage_when_every_source_fails(tmp_path, closed_port_url):
    sources = [{"url": closed_port_url}, {"path": str(tmp_path / "absent.npz")}]
    params = params_file(tmp_path, download={"sources": sources, "retries": 1})
    output = tmp_path / "data" / "raw" / "mnist.npz"
    result = run_script(DOWNLOAD, "--params", params, "--output", output)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: no source gave verified MNIST arrays; url {closed_port_url}: connection refused (2 attempts); path ")
    assert "absent.npz: [Errno 2] No such file" in last
    assert "Traceback" not in result.stderr
    assert not output.exists() and not list(tmp_path.rglob(".*.tmp*"))


def test_download_stage_refuses_arrays_that_are_not_mnist(tmp_path):
    """A local file is checked like any download: tiny random arrays are not MNIST."""
    local = tmp_path / "fake.npz"
    save_npz(local, tiny_mnist())
    params = params_file(tmp_path, download={"sources": [{"path": str(local)}]})
    result = run_script(DOWNLOAD, "--params", params, "--output", tmp_path / "mnist.npz")
    assert result.returncode == 1
    assert "x_train is uint8 (30, 28, 28), expected uint8 (60000, 28, 28)" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "mnist.npz").exists()


@pytest.fixture
def raw_npz(tmp_path):
    path = tmp_path / "raw" / "mnist.npz"
    save_npz(path, tiny_mnist(train=30, test=10))
    return path


@pytest.mark.parametrize("train_size, test_size", [(0, 0), (12, 4)])
def test_preprocess_stage_writes_model_input(tmp_path, raw_npz, train_size, test_size):
    params = params_file(tmp_path, preprocess={"train_size": train_size, "test_size": test_size})
    output = tmp_path / "processed"
    result = run_script(PREPROCESS, "--params", params, "--input", raw_npz, "--output", output)
    assert result.returncode == 0, result.stderr
    raw = tiny_mnist(train=30, test=10)
    for split, size in (("train", train_size or 30), ("test", test_size or 10)):
        x, y = load_npy(output / f"x_{split}.npy"), load_npy(output / f"y_{split}.npy")
        assert x.shape == (size, 784) and x.dtype == np.float32
        np.testing.assert_array_equal(x, preprocess(raw[f"x_{split}"][:size]))
        np.testing.assert_array_equal(y, raw[f"y_{split}"][:size])
    assert sorted(p.name for p in output.iterdir()) == ["x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]


def test_preprocess_stage_refuses_more_images_than_exist(tmp_path, raw_npz):
    params = params_file(tmp_path, preprocess={"train_size": 31})
    result = run_script(PREPROCESS, "--params", params, "--input", raw_npz, "--output", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {params}: preprocess.train_size is 31, but only 30 train images exist"
    )


@pytest.mark.parametrize("content", [b"garbage", None])
def test_preprocess_stage_bad_input_is_one_line(tmp_path, content):
    raw = tmp_path / "mnist.npz"
    if content is not None:
        raw.write_bytes(content)
    result = run_script(PREPROCESS, "--input", raw, "--output", tmp_path / "out", cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert str(raw) in result.stderr
    assert not (tmp_path / "out").exists()


def test_unwritable_output_is_one_line(tmp_path, raw_npz):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should go")
    result = run_script(PREPROCESS, "--input", raw_npz, "--output", blocker, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert str(blocker) in result.stderr
    assert blocker.read_text() == "a file where the output folder should go"


def test_committed_dvc_lock_matches_code_and_params():
    """dvc.lock must record the current code and params, or a fresh clone reruns stages it need not
    (and `dvc status` lies). Data and models may be absent here (a clean clone has none: "deleted"),
    so only deps that exist and differ count."""
    dvc = Path(sys.executable).parent / "dvc"
    status = json.loads(subprocess.run([dvc, "status", "--json"], cwd=REPO, capture_output=True, text=True, check=True).stdout)
    stale = {
        stage: change
        for stage, changes in status.items()
        for change in changes
        if "changed params" in change or "changed command" in change
        or "modified" in change.get("changed deps", {}).values()
    }
    assert stale == {}, f"dvc.lock is stale, run `make repro` and commit it: {stale}"
