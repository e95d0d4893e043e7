"""progress.py: a progress bar counting images on a terminal, and nothing when stderr is not one."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers import font_digits, read_rows, terminal_output

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
    shown = terminal_output(leader)
    assert result.returncode == 0, shown.decode(errors="replace")
    # issue 42: the count is known from the array's header: a total, and the time left
    assert b"40.0/40.0" in shown or b"40/40" in shown, shown.decode(errors="replace")
    assert re.search(rb"\[\d\d:\d\d<\d\d:\d\d", shown), shown.decode(errors="replace")
    assert len(read_rows(tmp_path / "out.csv")) == 40


def test_the_images_expected_are_counted_where_that_is_cheap(tmp_path):
    """An image file is one, a local .npy or IDX file its rows (from its header); an .npz (read
    through to count) or an unreadable array leaves the total unknown (the bar counts without one)."""
    from mnist_ann.predict.inputs.discovery import discover
    from mnist_ann.predict.progress import expected_images

    np.save(tmp_path / "a.npy", font_digits())
    for name in ("b.png", "c.png"):
        (tmp_path / name).write_bytes(b"not read to count")
    inputs, _ = discover([str(tmp_path)])
    assert expected_images(inputs) == 40 + 2
    np.savez(tmp_path / "d.npz", x=font_digits())
    assert expected_images(discover([str(tmp_path)])[0]) is None
    (tmp_path / "d.npz").unlink()
    (tmp_path / "e.npy").write_bytes(b"\x93NUMPY damaged")
    assert expected_images(discover([str(tmp_path)])[0]) is None
