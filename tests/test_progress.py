"""progress.py: a progress bar counting images on a terminal, and nothing when stderr is not one."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import font_digits, read_rows

# Every test here starts a process (the command, a stage, git or a decoding pool): not in `make check`.
pytestmark = pytest.mark.heavy


def test_progress_bar_on_a_terminal(exported, tmp_path):
    """stderr on a terminal gets a progress bar counting images; the rows are the same."""
    import os
    import pty
    import subprocess
    import sys

    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits())
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
