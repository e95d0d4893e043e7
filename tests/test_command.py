"""command.py (through the CLI): which model `mnist-ann predict` scores with: a file, the pipeline's export by default,
or a version from the MLflow registry (by number or alias) or a run, fetched from the store the
pipeline logs to; unknown names are one line. mlflow is imported for registry models only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import onnx
import pytest

from helpers import font_digits, popen_with_default_signals, read_rows, run_script
from mnist_ann.inference import PROVIDERS
from mnist_ann.tracking import OnnxVersion, tracked_stage


def predict_in(folder, *args, env=None):
    return run_script("-m", "mnist_ann.cli", "predict", *map(str, args), cwd=folder, env=env)


def probabilities(path):
    return np.array([[float(row[f"prob_{d}"]) for d in range(10)] for row in read_rows(path)])


def test_the_pipelines_export_is_the_default_model(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "digits.npy", font_digits()[:4])
    missing = predict_in(tmp_path, "digits.npy", "--output", "out.csv")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        "error: no model named and there is no models/model.onnx here: run `dvc repro`, or name one (--model)"
    )
    (tmp_path / "models").mkdir()
    shutil.copy(model_path, tmp_path / "models" / "model.onnx")
    default = predict_in(tmp_path, "digits.npy", "--output", "out.csv")
    assert default.returncode == 0, default.stderr
    explicit = predict_in(tmp_path, "digits.npy", "--model", model_path, "--output", "explicit.csv")
    assert explicit.returncode == 0, explicit.stderr
    assert np.array_equal(probabilities(tmp_path / "out.csv"), probabilities(tmp_path / "explicit.csv"))


def test_a_file_model_does_not_import_mlflow(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "digits.npy", font_digits()[:2])
    command = [sys.executable, "-X", "importtime", "-m", "mnist_ann.cli", "predict", "--model", str(model_path)]
    result = subprocess.run(
        [*command, "digits.npy", "--output", "out.csv"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")
    }
    assert "numpy" in imported and not any(name.split(".")[0] == "mlflow" for name in imported)


@pytest.fixture(scope="module")
def registry(exported, tmp_path_factory):
    """A repository folder whose own store (mlflow.db) holds two versions of mnist-ann, the second
    aliased `champion`, each logged by a real run as the export stage logs it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MNIST_ANN_TRACKING", raising=False)
        return _registry(exported, tmp_path_factory.mktemp("repo"))


def _registry(exported, root):
    keras_model, model_path = exported
    proto = onnx.load(str(model_path))
    example = font_digits()[:2].reshape(2, -1).astype(np.float32) / 255
    figures = {"test_accuracy": 0.5, "parity_max_abs_diff": 1e-7, "parity_argmax_agreement": 1.0}
    run_ids = []
    for _ in range(2):
        with tracked_stage("exp-registry", stage="export", root=root) as run:
            examples = (example, keras_model.predict(example, verbose=0))
            run.log_onnx_model(OnnxVersion(proto, examples, "mnist-ann", figures, PROVIDERS))
            assert run.failure is None
        run_ids.append(run.run_id)
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    client.set_registered_model_alias("mnist-ann", "champion", "2")
    np.save(root / "digits.npy", font_digits()[:5])
    return root, run_ids


def test_registry_versions_aliases_and_runs_are_models(registry, exported):
    root, run_ids = registry
    _, model_path = exported
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    reference = predict_in(root, "digits.npy", "--model", model_path, "--output", "file.csv", env=env)
    assert reference.returncode == 0, reference.stderr
    for i, uri in enumerate(["models:/mnist-ann/1", "models:/mnist-ann@champion", f"runs:/{run_ids[0]}/onnx_model"]):
        result = predict_in(root, "digits.npy", "--model", uri, "--output", f"uri{i}.csv", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert np.array_equal(probabilities(root / f"uri{i}.csv"), probabilities(root / "file.csv")), uri


@pytest.mark.parametrize(
    "uri", ["models:/no-such-model/1", "models:/mnist-ann/9", "models:/mnist-ann@nobody", "runs:/0123abcd/onnx_model"]
)
def test_unknown_registry_names_are_one_line(registry, uri):
    root, _ = registry
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = predict_in(root, "digits.npy", "--model", uri, "--output", "out.csv", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {uri}: not found in the MLflow store at sqlite:///{root / 'mlflow.db'}: ")
    assert not (root / "out.csv").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_mlflow_serves_a_registered_version_with_predicts_answers(registry):
    """MLflow's own scoring server (`mlflow models serve`, on loopback) for a registered version:
    100 images as JSON `{"inputs": [[784 pixels in 0-1], ...]}` get, as
    `{"predictions": {"probabilities": [[10 values], ...]}}`, the probabilities that `mnist-ann
    predict` writes for the same pixels."""
    root, _ = registry
    images = np.concatenate([font_digits()] * 3)[:100]
    np.save(root / "hundred.npy", images)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    ours = predict_in(root, "hundred.npy", "--model", "models:/mnist-ann@champion", "--output", "hundred.csv", env=env)
    assert ours.returncode == 0, ours.stderr[-2000:]
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/mnist-ann@champion"]
    server = popen_with_default_signals(
        [*command, "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        # as from an activated venv: mlflow starts `uvicorn` from PATH
        env={**env, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "PATH": f"{bin_dir}:{env['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        body = json.dumps({"inputs": (images.reshape(100, -1) / 255).tolist()}).encode()
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.load(response)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-3000:]
                assert time.monotonic() < deadline, "mlflow models serve did not answer within 120 s"
                time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    served = np.array(answer["predictions"]["probabilities"])  # the ONNX graph's output, by name
    np.testing.assert_allclose(served, probabilities(root / "hundred.csv"), atol=1e-6)


def test_a_registry_model_from_a_folder_without_a_store_is_one_line_and_creates_none(tmp_path):
    np.save(tmp_path / "digits.npy", font_digits()[:2])
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = predict_in(tmp_path, "digits.npy", "--model", "models:/mnist-ann/1", "--output", "out.csv", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: models:/mnist-ann/1: no MLflow store at {tmp_path / 'mlflow.db'} "
        "(run from the repository, or set MLFLOW_TRACKING_URI)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.npy"]  # no empty mlflow.db left behind
