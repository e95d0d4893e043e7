"""cli.py: the mnist-ann command as users run it: a separate process, exit codes, one-line errors, a
light start-up, a progress bar only on a terminal."""

from __future__ import annotations

import numpy as np
from PIL import Image

from helpers import DIGITS, predict, read_rows, run_script


def test_unwritable_output_is_exit_1(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:2])
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = predict("--model", model_path, tmp_path / "a.npy", "--output", tmp_path / "blocker" / "out.csv")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


def test_usage_error_is_exit_1(tmp_path):
    result = predict("--output", tmp_path / "x.csv", "in.npy")
    assert result.returncode == 1 and "--model" in result.stderr


def test_predict_never_imports_tensorflow(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:2])
    Image.fromarray(DIGITS[0]).save(tmp_path / "a.png")
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['mnist-ann', 'predict', '--model', {str(model_path)!r}, {str(tmp_path / 'a.npy')!r}, "
        f"{str(tmp_path / 'a.png')!r}, '--output', {str(tmp_path / 'o.csv')!r}]\n"
        "try:\n    runpy.run_module('mnist_ann.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'mlflow', 'tf2onnx'))\n"
        "print('HEAVY', heavy)\n"
    )
    result = run_script("-c", code)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert len(read_rows(tmp_path / "o.csv")) == 3


def test_progress_bar_on_a_terminal(exported, tmp_path):
    """stderr on a terminal gets a progress bar counting images; the rows are the same."""
    import os
    import pty
    import subprocess
    import sys

    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS)
    leader, follower = pty.openpty()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_ann.cli",
            "predict",
            "--model",
            str(model_path),
            str(tmp_path / "a.npy"),
            "--output",
            str(tmp_path / "out.csv"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=60,
    )
    os.close(follower)
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
    assert result.returncode == 0, shown.decode(errors="replace")
    assert b"40.0img" in shown or b"40img" in shown
    assert len(read_rows(tmp_path / "out.csv")) == 40
