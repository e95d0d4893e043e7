"""command.py (through the CLI): which model `mnist-ann predict` scores with: a file, the pipeline's export by default,
or a version from the MLflow registry (by number or alias) or a run, fetched from the store the
pipeline logs to; unknown names are one line. mlflow is imported for registry models only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import onnx
import pytest

from helpers import font_digits, int8_of, popen_with_default_signals, read_rows, run_script, wait_for_mlflow_server
from mnist_ann.core.onnx_model import PROVIDERS
from mnist_ann.predict.command import output_format
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
    root.mkdir(parents=True, exist_ok=True)
    int8 = int8_of(model_path, root / "int8.onnx")
    run_ids = []
    for number in (1, 2):  # the second with an int8 model, as export registers one that passed its gate
        with tracked_stage("exp-registry", stage="export", root=root) as run:
            examples = (example, keras_model.predict(example, verbose=0))
            version = OnnxVersion(proto, examples, "mnist-ann", figures, PROVIDERS, int8=int8 if number == 2 else None)
            run.log_onnx_model(version)
            assert run.failure is None
        run_ids.append(run.run_id)
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    client.set_registered_model_alias("mnist-ann", "champion", "2")
    np.save(root / "digits.npy", font_digits()[:5])
    return root, run_ids


def test_int8_scores_with_the_int8_model_of_a_registered_version_or_of_the_export(registry, exported):
    """issue 40: --int8 with a version fetches the int8 file registered with it (checked against its
    sha256); a version without one, or --int8 with a file, is one line; by default, the export's."""
    root, _ = registry
    env = _plain_env()
    alone = predict_in(root, "digits.npy", "--model", root / "int8.onnx", "--output", "file.csv", env=env)
    fetched = predict_in(
        root, "digits.npy", "--model", "models:/mnist-ann@champion", "--int8", "--output", "r.csv", env=env
    )
    assert alone.returncode == fetched.returncode == 0, fetched.stderr[-2000:]
    assert np.array_equal(probabilities(root / "r.csv"), probabilities(root / "file.csv"))
    float_model = predict_in(root, "digits.npy", "--model", exported[1], "--output", "float.csv", env=env)
    assert float_model.returncode == 0, float_model.stderr[-2000:]
    int8, floats = probabilities(root / "r.csv"), probabilities(root / "float.csv")
    assert not np.array_equal(int8, floats) and np.abs(int8 - floats).max() < 0.05  # its own answers, close
    without = predict_in(root, "digits.npy", "--model", "models:/mnist-ann/1", "--int8", "--output", "n.csv", env=env)
    assert without.returncode == 1 and without.stderr.strip().splitlines()[-1] == (
        "error: models:/mnist-ann/1: has no int8 model (its export's int8 gate refused one, or it was registered "
        "before export wrote them): score it without --int8"
    )
    named = predict_in(root, "digits.npy", "--model", exported[1], "--int8", "--output", "n.csv", env=env)
    assert named.returncode == 1 and "to score an int8 file, name it with --model alone" in named.stderr
    default = predict_in(root, "digits.npy", "--int8", "--output", "n.csv", env=env)
    assert default.returncode == 1 and "there is no models/int8/model.int8.onnx here: run `dvc repro`" in default.stderr
    assert not (root / "n.csv").exists()


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
    (tmp_path / "mlflow.db").touch()  # an empty file: MLflow wrote its whole schema into it
    result = predict_in(tmp_path, "digits.npy", "--model", "models:/mnist-ann/1", "--output", "out.csv", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: models:/mnist-ann/1: an empty file, not an MLflow store at {tmp_path / 'mlflow.db'} "
        "(run from the repository, or set MLFLOW_TRACKING_URI)"
    )
    assert (tmp_path / "mlflow.db").stat().st_size == 0 and not (tmp_path / "out.csv").exists()


@pytest.fixture
def own_registry(exported, tmp_path, monkeypatch):
    """A registry of this test's own, to change behind the store's back."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MNIST_ANN_TRACKING", raising=False)
    return _registry(exported, tmp_path / "repo")


def _plain_env():
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def _registered_file(root, version):
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    location = client.get_model_version_download_uri("mnist-ann", str(version))
    return Path(location.removeprefix("file://")) / "model.onnx", client


@pytest.mark.parametrize(
    "path", ["../../../../etc", "onnx_model/../../../../../tmp", "./onnx_model", "onnx_model//x", "%2e%2e/etc"]
)
def test_a_run_uri_that_climbs_out_of_its_run_is_refused_before_the_store_is_asked(registry, path):
    root, run_ids = registry
    uri = f"runs:/{run_ids[0]}/{path}"
    result = predict_in(root, "digits.npy", "--model", uri, "--output", "out.csv", env=_plain_env())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {uri}: not a model URI this command reads: models:/<name>/<version>, models:/<name>@<alias> or "
        "runs:/<run id>/<path in the run>, without '.' or '..' parts"
    )
    assert not (root / "out.csv").exists()


def test_a_version_whose_files_the_store_places_outside_its_artifacts_is_refused(own_registry, exported, tmp_path):
    """The store's record edited, as a hostile or damaged store would hold it: version 1's files
    said to be in a folder of this machine outside the store's artifact folder."""
    root, _ = own_registry
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(exported[1], elsewhere / "model.onnx")
    with sqlite3.connect(root / "mlflow.db") as connection:
        connection.execute("UPDATE model_versions SET storage_location = ? WHERE version = 1", (elsewhere.as_uri(),))
    result = predict_in(root, "digits.npy", "--model", "models:/mnist-ann/1", "--output", "out.csv", env=_plain_env())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: models:/mnist-ann/1: the store names {elsewhere} as the model's location, outside its artifact "
        f"folder {root / 'mlartifacts'}: refused"
    )
    assert not (root / "out.csv").exists()
    version_2 = predict_in(
        root, "digits.npy", "--model", "models:/mnist-ann/2", "--output", "out.csv", env=_plain_env()
    )
    assert version_2.returncode == 0, version_2.stderr[-2000:]


def test_a_model_file_replaced_after_registration_is_refused(own_registry, tmp_path):
    root, run_ids = own_registry
    registered, client = _registered_file(root, 1)
    version = client.get_model_version("mnist-ann", "1")
    digest = hashlib.sha256(registered.read_bytes()).hexdigest()
    assert version.tags["onnx.sha256"] == digest  # what export records is the file's own hash
    proto = onnx.load(str(registered))
    proto.producer_version = "replaced"
    registered.write_bytes(proto.SerializeToString())
    replaced = hashlib.sha256(registered.read_bytes()).hexdigest()
    for uri in ("models:/mnist-ann/1", f"runs:/{run_ids[0]}/onnx_model"):
        result = predict_in(root, "digits.npy", "--model", uri, "--output", "out.csv", env=_plain_env())
        assert result.returncode == 1 and "Traceback" not in result.stderr, uri
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: {uri}: model.onnx is not the file registered (its sha256 is {replaced[:16]}..., the version "
            f"records {digest[:16]}...): refused, the file was replaced after registration"
        )
        assert not (root / "out.csv").exists()


def test_a_version_registered_without_a_hash_is_scored_with_a_warning(own_registry):
    root, _ = own_registry
    _, client = _registered_file(root, 2)
    client.delete_model_version_tag("mnist-ann", "2", "onnx.sha256")
    result = predict_in(root, "digits.npy", "--model", "models:/mnist-ann/2", "--output", "out.csv", env=_plain_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "models:/mnist-ann/2: no sha256 of its model file was recorded" in result.stderr
    assert len(read_rows(root / "out.csv")) == 5


@pytest.mark.slow
def test_a_server_that_names_a_file_of_this_machine_as_the_model_is_refused(own_registry):
    """A real MLflow server that does not serve artifacts (`--no-serve-artifacts`) answers with the
    locations it holds: file:/// URIs, which the client would read from its own disk."""
    root, _ = own_registry
    port, bin_dir = _free_port(), Path(sys.executable).parent
    command = [str(bin_dir / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    server = popen_with_default_signals(
        [*command, "--no-serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=root,
        env={**_plain_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_mlflow_server(uri, server)
        env = {**_plain_env(), "MLFLOW_TRACKING_URI": uri}
        result = predict_in(root, "digits.npy", "--model", "models:/mnist-ann/1", "--output", "out.csv", env=env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: models:/mnist-ann/1: the store at {uri} names a file of this machine as the ")
    assert last.endswith("refused, a server's models come through its artifact service") and "file:///" in last
    assert not (root / "out.csv").exists()


@pytest.mark.parametrize(
    "output, fmt",
    [
        ("p.jsonl", "jsonl"),
        ("p.parquet", "parquet"),
        ("P.PARQUET", "parquet"),
        ("results.parquet/", "parquet"),  # a folder of part-00000.parquet, ...
        ("p.csv", "csv"),
        ("p.out", "csv"),
        ("results/", "csv"),
        ("p", "csv"),
    ],
)
def test_the_output_format_follows_the_suffix_unless_named(output, fmt):
    assert output_format(output) == fmt


def test_a_jsonl_output_is_json_lines_without_format(exported, tmp_path):
    np.save(tmp_path / "digits.npy", font_digits()[:3])
    done = predict_in(tmp_path, "digits.npy", "--model", exported[1], "--output", "p.jsonl")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == [f"digits.npy#{i}" for i in range(3)]
