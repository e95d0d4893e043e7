"""The preprocess stage's main(argv), run in this process as run_main runs it: model input written per
split, one line and exit 1 on bad input or an unwritable output, nothing left half written. (Its
preamble and signals are tested as processes: test_process.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import REPO, run_stage, tiny_mnist, write_params
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.npy import load_npy, save_npz


@pytest.fixture
def raw_npz(tmp_path):
    path = tmp_path / "raw" / "mnist.npz"
    save_npz(path, tiny_mnist(train=30, test=10))
    return path


@pytest.mark.parametrize("train_size, test_size", [(0, 0), (12, 4)])
def test_preprocess_stage_writes_model_input(tmp_path, raw_npz, train_size, test_size):
    changes = {"preprocess.train_size": train_size, "preprocess.test_size": test_size}
    params = write_params(tmp_path / "params.yaml", changes)
    output = tmp_path / "processed"
    result = run_stage("preprocess", "--params", params, "--input", raw_npz, "--output", output)
    assert result.returncode == 0, result.stderr
    raw = tiny_mnist(train=30, test=10)
    for split, size in (("train", train_size or 30), ("test", test_size or 10)):
        x, y = load_npy(output / f"x_{split}.npy"), load_npy(output / f"y_{split}.npy")
        assert x.shape == (size, 784) and x.dtype == np.float32
        np.testing.assert_array_equal(x, preprocess(raw[f"x_{split}"][:size]))
        np.testing.assert_array_equal(y, raw[f"y_{split}"][:size])
    assert sorted(p.name for p in output.iterdir()) == ["x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]


def test_preprocess_stage_refuses_more_images_than_exist(tmp_path, raw_npz):
    params = write_params(tmp_path / "params.yaml", {"preprocess.train_size": 31})
    result = run_stage("preprocess", "--params", params, "--input", raw_npz, "--output", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {params}: preprocess.train_size is 31, but only 30 train images exist"
    )


@pytest.mark.parametrize("content", [b"garbage", None])
def test_preprocess_stage_bad_input_is_one_line(tmp_path, content):
    raw = tmp_path / "mnist.npz"
    if content is not None:
        raw.write_bytes(content)
    result = run_stage("preprocess", "--input", raw, "--output", tmp_path / "out", cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert str(raw) in result.stderr
    assert not (tmp_path / "out").exists()


def test_unwritable_output_is_one_line(tmp_path, raw_npz):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should go")
    result = run_stage("preprocess", "--input", raw_npz, "--output", blocker, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert str(blocker) in result.stderr
    assert blocker.read_text() == "a file where the output folder should go"
