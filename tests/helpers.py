"""Plain helpers the tests share (fixtures live in conftest.py): tiny data, running scripts and the
predict command as separate processes, editing params, and real git/DVC repositories."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import os
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mnist_ann.training.evaluation.rendered import FONTS

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # `python` in the stage commands must be this environment's
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())  # the one owner of stage names, paths and outputs
STAGES = tuple(DVC_YAML["stages"])
# Each stage's paths as dvc.yaml passes them (`python pipeline/<stage>.py ARGS`), relative to the
# folder the stage runs in.
STAGE_ARGS = {name: shlex.split(stage["cmd"])[2:] for name, stage in DVC_YAML["stages"].items()}


def declared_outputs() -> list[str]:
    """Every path dvc.yaml's stages write (outs, metrics and plots), in stage order."""
    found = []
    for stage in DVC_YAML["stages"].values():
        for kind in ("outs", "metrics", "plots"):
            found += [next(iter(o)) if isinstance(o, dict) else o for o in stage.get(kind, [])]
    return found


def wait_for_mlflow_server(base: str, server: subprocess.Popen, timeout: float = 120) -> None:
    """Until the MLflow server at `base` (started as `server`) answers its health check."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            return
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)


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
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def popen_with_default_signals(args: list[str], **kwargs) -> subprocess.Popen:
    """subprocess.Popen whose child starts with SIGINT, SIGTERM and SIGHUP at their default
    disposition. A suite started in the background by a non-interactive shell (`make test &`, as some
    CI runners do) inherits SIGINT as ignored, and one under `nohup` SIGHUP, and so would every child:
    a test that sends the signal would then test nothing (and fail)."""

    def default_signals() -> None:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)

    return subprocess.Popen(args, preexec_fn=default_signals, **kwargs)


# --- params ---------------------------------------------------------------------------------------

DELETE = object()  # a value for write_params: remove the key


def write_params(path: Path, changes: Mapping[str, Any], base: Path | None = None) -> Path:
    """Write `path`: the params of `base` (default: `path` itself when it exists, else this
    repository's params.yaml) with `changes` applied, each a dotted key and its new value
    (`{"train.epochs": 2}`), or DELETE to remove the key. Comments are not kept."""
    base = base or (path if path.exists() else REPO / "params.yaml")
    raw = yaml.safe_load(base.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# --- mnist-ann predict ----------------------------------------------------------------------------


def font_number(digits: str, gap: int) -> np.ndarray:
    """A number, `digits` as DejaVu Sans glyphs side by side `gap` pixels apart, dark ink on light
    paper with a little noise: a uint8 picture."""
    glyphs = [np.asarray(font_glyph(int(d), "DejaVuSans.ttf", 48, 2, 0), np.float32) / 255 for d in digits]
    height = max(glyph.shape[0] for glyph in glyphs)
    ink = np.zeros((height + 20, sum(g.shape[1] for g in glyphs) + gap * (len(glyphs) - 1) + 20), np.float32)
    left = 10
    for glyph in glyphs:
        ink[10 : 10 + glyph.shape[0], left : left + glyph.shape[1]] = glyph
        left += glyph.shape[1] + gap
    return np.clip(225 - 190 * ink + np.random.default_rng(gap).normal(0, 4, ink.shape), 0, 255).astype(np.uint8)


def font_glyph(digit: int, font: str, size: int, stroke: int, angle: float):
    """`digit` drawn in white on black with one of the fonts matplotlib ships, turned by `angle`,
    cropped to its ink (the library's rendered-set glyph, unslanted): a Pillow "L" image."""
    from PIL import Image

    from mnist_ann.training.evaluation.rendered import glyph

    return Image.fromarray(np.rint(glyph(digit, font, size, pen=stroke, slant=0.0, turn=angle) * 255).astype(np.uint8))


DIGIT_FONTS = list(FONTS)


def mnist_form_digits(count: int, seed: int) -> np.ndarray:
    """`count` digit images (uint8 28x28, light on dark) from the fonts above at random sizes, strokes
    and slants, framed as MNIST's are; only those that framing leaves unchanged are kept, so an image
    test can compare what predict scores with Keras on the very same pixels."""
    from mnist_ann.core.framing import prepare

    rng = random.Random(seed)
    digits = []
    while len(digits) < count:
        glyph = font_glyph(len(digits) % 10, rng.choice(DIGIT_FONTS), rng.randint(30, 60), rng.randint(0, 2),
                           rng.uniform(-10, 10))  # fmt: skip
        (framed,), _, _ = prepare(np.asarray(glyph, np.float32)[None], "dark", "mnist")
        (again,), _, _ = prepare(framed.astype(np.float32)[None], "dark", "mnist")
        if np.array_equal(framed, again):
            digits.append(framed)
    return np.stack(digits)


@functools.cache
def font_digits() -> np.ndarray:
    """40 digits in MNIST's form, digit i showing i % 10; rendered once per session, on first use."""
    return mnist_form_digits(40, seed=5)


def font_crops(count: int, seed: int) -> list[tuple[int, Any]]:
    """(digit, image) pairs as users crop their digits: white on black, filling the picture up to
    a margin of 0-4 pixels, at random fonts, sizes, strokes and slants. Digit i is i % 10."""
    from PIL import Image

    rng = random.Random(seed)
    crops = []
    for i in range(count):
        glyph = font_glyph(
            i % 10, rng.choice(DIGIT_FONTS), rng.randint(24, 90), rng.randint(0, 3), rng.uniform(-12, 12)
        )
        margin = rng.randint(0, 4)
        picture = Image.new("L", (glyph.width + 2 * margin, glyph.height + 2 * margin), 0)
        picture.paste(glyph, (margin, margin))
        crops.append((i % 10, picture))
    return crops


def font_scans(count: int, seed: int) -> list[tuple[int, Any]]:
    """(digit, image) pairs as a scanner gives them: dark ink (grey 10-80) on light paper (200-250)
    with noise, the digit anywhere on a page 1.6-3 times its size. Digit i is i % 10."""
    from PIL import Image

    rng, noise, scans = random.Random(seed), np.random.default_rng(seed), []
    for i in range(count):
        glyph, side = _glyph_on_a_page(rng, i % 10, strokes=(0, 3))
        page = Image.new("L", (side, side), rng.randint(200, 250))
        corner = (rng.randint(0, side - glyph.width), rng.randint(0, side - glyph.height))
        page.paste(Image.new("L", glyph.size, rng.randint(10, 80)), corner, glyph)
        noisy = np.asarray(page, np.float32) + noise.normal(0, 6, (side, side))
        scans.append((i % 10, Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))))
    return scans


def font_photos(count: int, seed: int, max_gradient: float = 120) -> list[tuple[int, Any]]:
    """(digit, image) pairs as a phone photographs a sheet (the library's training/evaluation/photos.py): dark
    ink on grey paper lit unevenly by up to `max_gradient` grey levels, noise of sigma 6; the digit
    anywhere on a picture 1.6-3 times its size, its pen 1-4 pixels wide (at the smallest sizes,
    some loops fill: a few of these are blots no reader could name). Digit i is i % 10."""
    from PIL import Image

    from mnist_ann.training.evaluation.photos import on_paper, placed

    rng, light, photos = random.Random(seed), np.random.default_rng(seed), []
    for i in range(count):
        glyph, side = _glyph_on_a_page(rng, i % 10, strokes=(1, 4))
        ink = placed(np.asarray(glyph, np.float32) / 255, side, light)
        photos.append((i % 10, Image.fromarray(np.rint(on_paper(ink, light, max_gradient)).astype(np.uint8))))
    return photos


def mnist_photos(digits: np.ndarray, count: int, seed: int) -> list[Any]:
    """The first `count` of MNIST's handwritten `digits` (uint8 28x28, light on black) as a phone
    photographs them written dark on a sheet (training/evaluation/photos.py: grey paper, light uneven by up to
    120 grey levels, noise of sigma 6): each enlarged 2-4 times, anywhere on a page 1.6-3 times its
    size. Pillow "L" images."""
    from PIL import Image

    from mnist_ann.training.evaluation.photos import on_paper, placed

    light, photos = np.random.default_rng(seed), []
    for digit in digits[:count]:
        side = int(28 * light.uniform(2, 4))
        ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
        page = placed(np.clip(ink, 0, 1), int(side * light.uniform(1.6, 3.0)), light)
        photos.append(Image.fromarray(np.rint(on_paper(page, light)).astype(np.uint8)))
    return photos


def _glyph_on_a_page(rng: random.Random, digit: int, strokes: tuple[int, int]) -> tuple[Any, int]:
    """A random font glyph of `digit` and the side of a square page 1.6-3 times its size."""
    glyph = font_glyph(digit, rng.choice(DIGIT_FONTS), rng.randint(24, 90), rng.randint(*strokes), rng.uniform(-12, 12))
    return glyph, int(max(glyph.size) * rng.uniform(1.6, 3.0))


def predict(*args, cwd=None):
    """`mnist-ann predict ARGS` as its own process."""
    return run_script("-m", "mnist_ann.cli", "predict", *map(str, args), **({"cwd": cwd} if cwd else {}))


def predict_damaged_folder(model_path: Path, folder: Path, files: Mapping[str, bytes], output: Path):
    """Write `files` (name -> bytes) into the new folder `folder` and run predict over it, checking
    what damaged inputs must never do: stop the run (exit other than 0 or 2) or print a traceback."""
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    result = predict("--model", model_path, folder, "--output", output)
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    return result


def read_rows(path):
    with open(path, newline="") as fp:
        return list(csv.DictReader(fp))


def assert_rows_match_keras(rows, keras_model, images):
    """Labels and the ten probabilities of `rows` are Keras's for `images` (uint8 28x28)."""
    from mnist_ann.core.mnist import preprocess

    expected = keras_model.predict(preprocess(np.asarray(images)), verbose=0)
    got = np.array([[float(row[f"prob_{d}"]) for d in range(10)] for row in rows])
    np.testing.assert_allclose(got, expected, atol=1.5e-6)  # six decimals in the file
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5  # a near tie may go either way within the tolerance
    labels = np.array([int(row["label"]) for row in rows])
    assert (labels[clear] == expected.argmax(axis=1)[clear]).all()
    confidence = np.array([float(row["confidence"]) for row in rows])
    np.testing.assert_allclose(confidence, expected.max(axis=1), atol=1.5e-6)


def idx_bytes(images: np.ndarray) -> bytes:
    """`images` (uint8, N x 28 x 28) as an IDX file, MNIST's own format."""
    return struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", *images.shape) + images.tobytes()


# --- real repositories for the DVC workflows ------------------------------------------------------


def dvc(repo: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the default store: mlflow.db at the repo root
    return subprocess.run(
        [str(VENV_BIN / "dvc"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_queue(repo: Path, jobs: int, timeout: float = 900) -> tuple[subprocess.CompletedProcess, bool]:
    """`dvc exp run --run-all --jobs N` as the README writes it; returns its outcome and whether DVC
    hung. A known DVC bug (treeverse/dvc#10428, open) can leave it waiting forever after every
    experiment finished: a queue worker's monitor thread dies on a half-written broker message, so
    that worker never exits. Once `dvc queue status` shows no task queued or running for 60 s, the
    workers are told to stop (`dvc queue stop`), which lets the command return."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [str(VENV_BIN / "dvc"), "exp", "run", "--run-all", "--jobs", str(jobs)]
    # Output to files, not pipes: DVC's queue workers are daemons that inherit the command's stdout
    # and stderr, and one left behind by that bug kept the pipes open long after the command had
    # exited (seen once: the command a zombie for 10 minutes, its queue workers idle).
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = popen_with_default_signals(
            command, cwd=repo, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        code, hung = _wait_for_queue(process, repo, timeout)
        out.seek(0), err.seek(0)
        return subprocess.CompletedProcess(command, code, out.read(), err.read()), hung


def _wait_for_queue(process: subprocess.Popen, repo: Path, timeout: float) -> tuple[int, bool]:
    """The exit code of `dvc exp run --run-all` and whether DVC hung (run_queue)."""
    deadline, idle_since, hung = time.monotonic() + timeout, None, False
    while True:
        try:
            return process.wait(timeout=10), hung
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                process.kill()
                raise
        status = dvc(repo, "queue", "status", timeout=60).stdout
        if any(word in status for word in ("Queued", "Running")):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 60 and not hung:
            hung = True
            dvc(repo, "queue", "stop", timeout=60)


def terminal_output(leader: int) -> bytes:
    """All that a process wrote to the terminal whose leader end is `leader` (a pty), until it closed;
    the leader is closed after."""
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return shown


def make_exps(repo: Path) -> subprocess.CompletedProcess:
    """`make exps` in `repo` (its Makefile, this environment's venv), on a 120-column terminal."""
    venv = VENV_BIN.parent
    return subprocess.run(
        ["make", "-s", "-o", f"{venv}/.synced", "exps", f"VENV={venv}"],
        cwd=repo,
        env={**os.environ, "COLUMNS": "120", "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def copy_of_this_repo(destination: Path) -> Path:
    """The project's files as they are in the work tree (what `git clone` of a commit of them
    gives), as a new git repository with one commit; no data, models or MLflow store."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file() and not name.startswith(("metrics/", "plots/")):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "init", "-q")
    git(destination, "add", "-A")
    git(destination, "commit", "-qm", "copy of mnist-ann")
    return destination


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The stages a successful `dvc repro` ran."""
    assert result.returncode == 0, result.stdout + result.stderr
    return {stage for stage in STAGES if f"Running stage '{stage}'" in result.stdout}


def store(repo: Path):
    """The MLflow client of a repository's own store (mlflow.db at its root)."""
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")


def all_runs(repo: Path) -> list:
    client = store(repo)
    return client.search_runs([e.experiment_id for e in client.search_experiments()], order_by=["start_time ASC"])


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


BAD_INPUTS = {
    "empty.png": (b"", "empty file (0 bytes"),
    "notes.txt": (b"just words", "not an image Pillow can read"),
    "truncated.png": (None, "damaged image"),
    "bomb.png": (_png_claiming(20000, 20000), "refused as a decompression bomb"),
    "shape.npy": (np.zeros((3, 27, 28), np.uint8), "array must have shape (N, 28, 28) or (N, 784), got (3, 27, 28)"),
    "rank.npy": (np.zeros((784,), np.uint8), "array must have shape (N, 28, 28) or (N, 784), got (784,)"),
    "nan.npy": (np.full((2, 784), np.nan, np.float32), "float pixels must be finite"),
    "big.npy": (np.full((2, 784), 300, np.int16), "integer pixels must be 0-255, got 300..300"),
    "negative.npy": (np.full((2, 784), -4, np.int32), "integer pixels must be 0-255, got -4..-4"),
    "objects.npy": (np.array([None, 1], dtype=object), "holds Python objects"),
    "cut.npy": (None, "cannot read"),
    "nokey.npz": (None, "npz has no one of the keys x, x_test (or --key); it has a, b"),
    "bad-idx3-ubyte": (b"\x00\x00\x08\x03" + struct.pack(">III", 5, 28, 28) + b"\0" * 100, "IDX file is truncated"),
}


def write_bad_inputs(folder):
    """Write one file of each kind in BAD_INPUTS into `folder`."""
    from PIL import Image

    good = io.BytesIO()
    Image.fromarray(font_digits()[0]).save(good, "PNG")
    for name, (content, _) in BAD_INPUTS.items():
        path = folder / name
        if name == "truncated.png":
            path.write_bytes(good.getvalue()[:60])
        elif name == "cut.npy":
            np.save(path, font_digits()[:10])
            path.write_bytes(path.read_bytes()[:-500])
        elif name == "nokey.npz":
            np.savez(path, a=font_digits()[:2], b=font_digits()[:2])
        elif isinstance(content, np.ndarray):
            np.save(path, content, allow_pickle=content.dtype == object)
        else:
            path.write_bytes(content)


def lying_model(path, kind):
    """Declares (batch, 10) like ours; returns one row whatever the batch ("short"), or NaN ("nan")."""
    from onnx import TensorProto, helper, numpy_helper

    tensors = [numpy_helper.from_array(np.full((784, 10), 0.01, np.float32), "w")]
    nodes = [helper.make_node("MatMul", ["pixels", "w"], ["scores"])]
    if kind == "short":
        for name, value in (("starts", [0]), ("ends", [1]), ("axes", [0])):
            tensors.append(numpy_helper.from_array(np.array(value, np.int64), name))
        nodes.append(helper.make_node("Slice", ["scores", "starts", "ends", "axes"], ["probabilities"]))
    else:
        tensors.append(numpy_helper.from_array(np.array(np.nan, np.float32), "nan"))
        nodes.append(helper.make_node("Mul", ["scores", "nan"], ["probabilities"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        tensors,
    )
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


# The credentials and region the tests' S3 server is reached with (any key will do: it checks none).
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def upload_folder(s3, folder: Path, prefix: str) -> None:
    """Every file under `folder` as an object under `prefix` (s3://bucket/key/), named as it is there."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put(f"{prefix}{path.relative_to(folder)}", path.read_bytes())


def with_monitoring(source: Path, destination: Path, reference_json: str) -> Path:
    """A copy of the ONNX model `source` at `destination` whose metadata carries `reference_json` as
    its monitoring reference (export writes it so), or any text put there: destination."""
    import onnx

    from mnist_ann.core.monitoring import METADATA_KEY

    proto = onnx.load(str(source))
    onnx.helper.set_model_props(proto, {METADATA_KEY: reference_json})
    onnx.save(proto, str(destination))
    return destination


def int8_of(model: Path, destination: Path) -> Path:
    """The int8 model of the ONNX file `model` (training/int8.py's quantizer), calibrated on the font
    digits, written to `destination`."""
    from mnist_ann.training.int8 import quantize

    calibration = np.concatenate([font_digits()] * 5).reshape(-1, 784).astype(np.float32) / 255
    destination.write_bytes(quantize(model, calibration).SerializeToString())
    return destination


class DenseNetwork:
    """The seed's kind of network (Dense layers, relu, softmax) in numpy, with seeded Glorot-uniform
    weights: the reference that predict's tests compare onnxruntime's answers with, and the source of
    a small .onnx model built with onnx.helper, so that those tests never import TensorFlow."""

    def __init__(self, hidden_units: tuple[int, ...] = (32, 16), seed: int = 11):
        rng = np.random.default_rng(seed)
        sizes = (28 * 28, *hidden_units, 10)
        self.layers = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            limit = np.sqrt(6 / (fan_in + fan_out))
            weights = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
            self.layers.append((weights, rng.uniform(-0.05, 0.05, fan_out).astype(np.float32)))

    def predict(self, pixels: np.ndarray, verbose: int = 0) -> np.ndarray:
        """Class probabilities for (N, 784) pixels, as Keras' `model.predict` returns them."""
        x = np.asarray(pixels, dtype=np.float32)
        for i, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            x = np.maximum(x, 0) if i < len(self.layers) - 1 else x
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def save_onnx(self, path: Path, opset: int = 17) -> Path:
        """This network as an ONNX model with the export stage's names: input `pixels` float32
        (batch, 784), output `probabilities` float32 (batch, 10)."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        nodes, initializers, current = [], [], "pixels"
        for i, (weights, bias) in enumerate(self.layers):
            initializers += [numpy_helper.from_array(weights, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
            nodes += [
                helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]),
                helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
            ]
            last = i == len(self.layers) - 1
            current = "probabilities" if last else f"r{i}"
            nodes.append(
                helper.make_node("Softmax" if last else "Relu", [f"a{i}"], [current], **({"axis": 1} if last else {}))
            )
        graph = helper.make_graph(
            nodes,
            "dense_digits",
            [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 28 * 28])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
            initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tests")
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return path


@functools.cache
def stage_main(stage: str):
    """The `main(argv)` of pipeline/<stage>.py, imported into this process without its preamble
    (start_stage: the signal handlers a process installs first, tested as processes)."""
    import importlib.util
    import types

    preamble = types.ModuleType("stage_start")
    preamble.start_stage = lambda: None  # type: ignore[attr-defined]
    saved = sys.modules.get("stage_start")
    sys.modules["stage_start"] = preamble
    try:
        spec = importlib.util.spec_from_file_location(f"stage_{stage}", REPO / "pipeline" / f"{stage}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["stage_start"]
        else:
            sys.modules["stage_start"] = saved
    return module.main


def run_stage(
    stage: str, *args: str | Path, cwd: Path = REPO, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    """A stage's main(argv) run in this process as run_main runs it in the stage's own: its exit
    code and what it wrote to stdout and stderr, caught at the file descriptors (TensorFlow's C++
    writes there, not through sys.stderr), with the stage's own log handler (the suite's are set
    aside meanwhile). `env` is added to the environment for the call. For the stage's logic; its
    signals and preamble are tested as processes."""
    import logging

    from mnist_ann.core.process import run_main

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    root = logging.getLogger()
    log_handlers, log_level = root.handlers[:], root.level
    saved_env = {key: os.environ.get(key) for key in env or {}}
    before, argv, code = os.getcwd(), [str(a) for a in args], None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        streams = sys.stdout, sys.stderr
        for stream in streams:
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "wb", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "wb", closefd=False), write_through=True)
        root.handlers = []
        os.environ.update(env or {})
        os.chdir(cwd)
        try:
            run_main(stage_main(stage), argv)
        except SystemExit as exit_:
            code = exit_.code
        finally:
            os.chdir(before)
            for key, value in saved_env.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
            root.handlers, root.level = log_handlers, log_level
            for stream in (sys.stdout, sys.stderr):
                stream.close()  # flushed; the descriptors stay open (closefd=False)
            sys.stdout, sys.stderr = streams
            for fd, saved in zip((1, 2), saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return subprocess.CompletedProcess(argv, code, stdout, stderr)


def run_of_model_file(client, model: Path):
    """The latest run of `client`'s store tagged with the sha256 of `model` (the run that trained it)."""
    import hashlib

    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(
        experiments, f"tags.`mnist_ann.model_sha256` = '{sha}'", order_by=["attributes.start_time DESC"]
    )
    assert found, f"no run is tagged with the sha256 of {model}"
    return found[0]


def mnist_numbers(digits: np.ndarray, labels: np.ndarray, count: int, seed: int) -> list[tuple[str, Any]]:
    """`count` numbers of 2 to 4 of MNIST's handwritten `digits` (uint8 28x28, light on black; their
    `labels`), each 0.8-1.3 of MNIST's size and slanted, 1-8 pixels apart (written_numbers.py),
    photographed on plain paper as mnist_photos' digits are: (the number's text, a Pillow "L" image)."""
    from PIL import Image

    from mnist_ann.training.evaluation.photos import on_paper
    from mnist_ann.training.evaluation.written_numbers import number_ink

    rng, numbers = np.random.default_rng(seed), []
    for _ in range(count):
        chosen = rng.integers(0, len(digits), int(rng.integers(2, 5)))
        photo = on_paper(number_ink(list(digits[chosen]), rng), rng)
        numbers.append(("".join(str(int(d)) for d in labels[chosen]), Image.fromarray(np.rint(photo).astype(np.uint8))))
    return numbers
