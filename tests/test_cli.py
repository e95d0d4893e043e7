"""cli.py: the mnist-ann command as users run it: a separate process, exit codes, one-line errors, a
light start-up, a progress bar only on a terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import REPO, font_digits, popen_with_default_signals, predict, read_rows, run_script
from mnist_ann.core.files import EMPTY_FILE

# Every test here starts a process (the command, a stage, git or a decoding pool): not in `make check`.
pytestmark = pytest.mark.heavy


def test_unwritable_output_is_exit_1(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits()[:2])
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = predict("--model", model_path, tmp_path / "a.npy", "--output", tmp_path / "blocker" / "out.csv")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


def test_usage_error_is_exit_1(tmp_path):
    result = predict("--output", tmp_path / "x.csv", "--frame", "sideways", "in.npy")
    assert result.returncode == 1 and "--frame: invalid choice: 'sideways'" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--output", "", "--output: '' names no new file or folder"),
        ("--output", "./", "--output: './' names no new file or folder"),
        ("--output", "..", "--output: '..' names no new file or folder"),
        ("--output", "a" * 250 + ".csv", "--output: the name is too long: 263 bytes with the files beside it"),
        ("--workers", "2147483647", "--workers: at most 1024 processes, got 2147483647"),
    ],
)
def test_an_output_or_workers_that_cannot_work_is_refused_before_any_work(exported, tmp_path, option, value, says):
    """Issue 26 (19): `--output ''` and `--workers 2147483647` were tracebacks; `--output ./` scored
    everything, then failed replacing the working folder; a name whose errors file is too long replaced
    the old output, then failed to list the bad input. Now each is refused at once, nothing written."""
    np.save(tmp_path / "a.npy", font_digits()[:2])
    options = {"--output": "o.csv", "--workers": "1", option: value}
    args = ["a.npy", "--model", exported[1], *(item for pair in options.items() for item in pair)]
    result = run_script("-m", "mnist_ann.cli", "predict", *map(str, args), cwd=tmp_path)
    assert result.returncode == 1 and says in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_the_longest_output_name_allowed_is_written_with_its_errors_file(exported, tmp_path):
    np.save(tmp_path / "a.npy", font_digits()[:2])
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    name = "a" * (255 - len(".monitor.json")) + ".csv"  # its summary beside it has the longest name allowed
    result = predict("--model", exported[1], tmp_path / "a.npy", tmp_path / "bad.npy", "--output", tmp_path / name)
    assert result.returncode == 2, result.stderr
    assert len(read_rows(tmp_path / name)) == 2
    assert (tmp_path / (name[:-4] + ".errors.csv")).is_file() and (tmp_path / (name[:-4] + ".monitor.json")).is_file()


def test_predict_never_imports_tensorflow(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits()[:2])
    Image.fromarray(font_digits()[0]).save(tmp_path / "a.png")
    code = (
        "import atexit, sys, runpy\n"
        f"sys.argv = ['mnist-ann', 'predict', '--model', {str(model_path)!r}, {str(tmp_path / 'a.npy')!r}, "
        f"{str(tmp_path / 'a.png')!r}, '--output', {str(tmp_path / 'o.csv')!r}]\n"
        "heavy = ('tensorflow', 'keras', 'mlflow', 'tf2onnx', 'ray')\n"
        # atexit: the command ends its process itself (process.end_process), which runs these callbacks
        "atexit.register(lambda: print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
        "runpy.run_module('mnist_ann.cli', run_name='__main__')\n"
    )
    result = run_script("-c", code)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert len(read_rows(tmp_path / "o.csv")) == 3


@pytest.mark.parametrize(
    "target", ["input-npy", "model", "image-in-folder", "errors-file-is-input", "symlink-to-input"]
)
def test_output_that_would_replace_an_input_or_the_model_is_refused(exported, tmp_path, target):
    """Issue 11: predict once replaced its own input with CSV and exited 0."""
    _, model_path = exported
    model = tmp_path / "model.onnx"
    model.write_bytes(model_path.read_bytes())
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(font_digits()[0]).save(folder / "a.png")
    np.save(tmp_path / "x.npy", font_digits()[:3])
    (tmp_path / "out.errors.csv").write_text("an odd name for an input, but an input")
    (tmp_path / "link.csv").symlink_to(tmp_path / "x.npy")
    output = {
        "input-npy": tmp_path / "x.npy",
        "model": model,
        "image-in-folder": folder / "a.png",
        "errors-file-is-input": tmp_path / "out.csv",
        "symlink-to-input": tmp_path / "link.csv",
    }[target]
    inputs = [tmp_path / "x.npy", folder] + ([tmp_path / "out.errors.csv"] if target.startswith("errors") else [])
    before = {p: p.read_bytes() for p in [model, folder / "a.png", tmp_path / "x.npy", tmp_path / "out.errors.csv"]}
    result = predict("--model", model, *inputs, "--output", output)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.rstrip().endswith("refusing to replace it") or "refusing to replace it: " in result.stderr
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("kind", ["folder", "fifo", "device-through-symlink", "symlink-to-a-file"])
def test_output_that_is_not_a_regular_file_is_refused(exported, tmp_path, kind):
    """Issue 37 (3): a symbolic link as `--output` became a plain file, its target untouched (as
    root, `--output /dev/stdout` replaced the system's link); now refused, like a folder or a FIFO."""
    _, model_path = exported
    np.save(tmp_path / "x.npy", font_digits()[:2])
    output, target = tmp_path / "out.csv", tmp_path / "kept.csv"
    target.write_text("someone's rows\n")
    reason = "exists and is not a regular file; refusing to replace it"
    if kind == "folder":
        output.mkdir()
    elif kind == "fifo":
        os.mkfifo(output)
    else:
        output.symlink_to("/dev/null" if kind.startswith("device") else target)
        reason = f"is a symbolic link (to {os.readlink(output)}); refusing to replace it: name the file itself"
    result = predict("--model", model_path, tmp_path / "x.npy", "--output", output)
    assert result.returncode == 1
    assert result.stderr == f"error: {output}: {reason}\n"
    assert output.is_dir() if kind == "folder" else (output.is_fifo() or output.is_symlink())
    assert target.read_text() == "someone's rows\n" and not (tmp_path / "out.errors.csv").exists()
    assert os.path.exists("/dev/null") and Path("/dev/null").is_char_device()


@pytest.mark.parametrize(
    "sig, code, word",
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted"), (signal.SIGHUP, 129, "hung up")],
)
def test_a_signal_mid_run_leaves_the_old_output_and_no_traceback(exported, tmp_path, sig, code, word):
    """Issue 11: SIGTERM (`timeout`, `kill`, `docker stop`) left a hidden 383 MB temporary file, and
    Ctrl-C printed a traceback from every image worker. A terminal that closes sends SIGHUP to the
    group: the same."""
    _, model_path = exported
    folder = tmp_path / "png"
    folder.mkdir()
    for i in range(200):
        Image.fromarray(font_digits()[i % len(font_digits())]).save(folder / f"{i:03d}.png")
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint8, shape=(500_000, 28, 28))
    big[:] = font_digits()[0]
    big.flush()
    del big
    output = tmp_path / "out.csv"
    output.write_text("previous results\n")
    command = [sys.executable, "-m", "mnist_ann.cli", "predict", "--model", str(model_path), str(folder)]
    command += [str(tmp_path / "big.npy"), "--output", str(output), "--workers", "2"]
    process = popen_with_default_signals(command, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".mnist-ann-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the images are scored; the array is under way, the workers idle
    os.killpg(process.pid, sig)  # the whole group, as a terminal's Ctrl-C does
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == word and "Traceback" not in stderr
    assert output.read_text() == "previous results\n" and list(tmp_path.glob(".mnist-ann-*")) == []


def _blocking_file() -> str:
    """/proc/kmsg: a "regular" file of size 0 whose read blocks until the kernel logs something."""
    if not os.access("/proc/kmsg", os.R_OK):
        pytest.skip("/proc/kmsg is not readable here (needs root): no file whose read blocks")
    return "/proc/kmsg"


def test_files_whose_read_blocks_are_refused_without_reading_them(exported, tmp_path):
    """Issue 26 (4, 12): `--model /proc/kmsg`, inputs linked to it and `check-params /proc/kmsg`
    waited until killed, SIGTERM ignored. Files of no size are now refused unread."""
    blocking = _blocking_file()
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.npy", "c.jpg"):
        (folder / name).symlink_to(blocking)
    (folder / "empty.png").write_bytes(b"")
    Image.fromarray(font_digits()[3]).save(folder / "good.png")
    started = time.monotonic()
    done = predict("--model", exported[1], folder, "--output", tmp_path / "out.csv")
    assert done.returncode == 2 and len(read_rows(tmp_path / "out.csv")) == 1, done.stderr
    errors = {Path(row["source"]).name: row["error"] for row in read_rows(tmp_path / "out.errors.csv")}
    assert set(errors) == {"a.png", "b.npy", "c.jpg", "empty.png"} and set(errors.values()) == {EMPTY_FILE}
    refused = predict("--model", blocking, folder / "good.png", "--output", tmp_path / "o.csv")
    assert (refused.returncode, refused.stderr) == (1, f"error: /proc/kmsg: {EMPTY_FILE}\n")  # one guard, one line
    params = run_script("-m", "mnist_ann.cli", "check-params", blocking, timeout=60)
    assert (params.returncode, params.stderr) == (1, f"error: /proc/kmsg: {EMPTY_FILE}\n")
    assert time.monotonic() - started < 50


def test_file_names_reach_stderr_escaped_never_as_new_lines_or_terminal_codes(exported, tmp_path):
    """Issue 26 (13): a name with a newline forged a log line ("18:00:00 INFO mnist-ann: scored
    ..."), and escape sequences in a name went to the terminal."""
    folder = tmp_path / "in"
    folder.mkdir()
    forged = "evil\n18:00:00 INFO mnist-ann: scored 99 images \x1b[2J\x9b31m\u2028.png"
    (folder / forged).write_bytes(b"not an image")
    (folder / b"latin-\xe9.png".decode("utf-8", "surrogateescape")).write_bytes(b"nor this")
    done = predict("--model", exported[1], folder, "--output", tmp_path / "out.csv")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 5 and not any("\x1b" in line or "\x9b" in line for line in lines), lines
    assert sum(line.startswith("18:00:00") for line in lines) == 0
    assert (
        "skipped " + str(folder / "evil\\n18:00:00 INFO mnist-ann: scored 99 images \\x1b[2J\\x9b31m\\u2028.png")
        in done.stderr
    )
    assert str(folder / "latin-\\xe9.png") in done.stderr


@pytest.fixture(scope="module")
def predict_only(tmp_path_factory) -> Path:
    """A virtual environment with `pip install ".[predict]"` only: no TensorFlow, Keras, DVC or
    MLflow, pinned by the lock. uv installs it from its cache (filled by `make setup`), else from the
    package registry: a cache filled from a local wheel folder does not serve an offline install."""
    venv = tmp_path_factory.mktemp("predict-only") / "venv"
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, venv], check=True, timeout=120)
    install = [uv, "pip", "install", "-q", "--python", venv / "bin" / "python", "-c", REPO / "requirements.lock"]
    for where in (["--offline"], []):
        done = subprocess.run([*install, *where, f"{REPO}[predict]"], capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return venv
    # not the project's failure: neither uv's cache nor the registry could be read
    pytest.skip(f"uv could not install .[predict] from its cache or the registry: {done.stderr.strip()[-300:]}")


def test_predict_scores_a_folder_in_an_install_without_tensorflow(predict_only, exported, tmp_path):
    """pyproject's `predict` extra is enough for the command and the Python API, and a command that
    needs what it lacks says what to install in one line."""
    python = predict_only / "bin" / "python"
    absent = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u\nprint([m for m in ('tensorflow', 'keras', 'dvc', 'mlflow')"
            " if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert absent.stdout.strip() == "[]", absent.stderr
    folder = tmp_path / "digits"
    folder.mkdir()
    for i, digit in enumerate(font_digits()[:4]):
        Image.fromarray(digit).save(folder / f"{i}.png")
    done = subprocess.run(
        [
            predict_only / "bin" / "mnist-ann",
            "predict",
            "--model",
            exported[1],
            folder,
            "--output",
            tmp_path / "out.csv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [str(folder / f"{i}.png") for i in range(4)]
    api = f"from mnist_ann import Predictor\nprint(len(Predictor({str(exported[1])!r}).predict({str(folder)!r})))"
    assert subprocess.run([python, "-c", api], capture_output=True, text=True, timeout=120).stdout.strip() == "4"
    needs = subprocess.run(
        [predict_only / "bin" / "mnist-ann", "check-params"], capture_output=True, text=True, timeout=60
    )
    assert (needs.returncode, needs.stderr) == (
        1,
        "error: this command needs yaml, which is not installed: pip install 'mnist-ann[pipeline]'\n",
    )


def test_output_dash_writes_the_rows_to_standard_output(exported, tmp_path):
    """Issue 37 (19): `--output -` wrote a file named `-`; the Unix convention is standard output,
    for piping into other tools. The rows are the file's, byte for byte; failures go to stderr."""
    _, model = exported
    np.save(tmp_path / "a.npy", font_digits()[:3])
    for fmt in ("csv", "jsonl"):
        to_file = predict("--model", model, tmp_path / "a.npy", "--output", tmp_path / f"rows.{fmt}", cwd=tmp_path)
        piped = predict("--model", model, tmp_path / "a.npy", tmp_path / "gone.png", "--output", "-", "--format", fmt,
                        cwd=tmp_path)  # fmt: skip
        assert to_file.returncode == 0 and piped.returncode == 2, piped.stderr
        assert piped.stdout == (tmp_path / f"rows.{fmt}").read_text()
        assert f"skipped {tmp_path / 'gone.png'}: no such file or folder" in piped.stderr
    parquet = predict("--model", model, tmp_path / "a.npy", "--output", "-", "--format", "parquet", cwd=tmp_path)
    assert (parquet.returncode, parquet.stdout) == (1, "")
    assert parquet.stderr.endswith(
        "error: --output - writes CSV or JSON Lines: Parquet needs a file (give FILE.parquet)\n"
    )
    assert not (tmp_path / "-").exists() and not list(tmp_path.glob("-*"))
