"""discovery.py: the inputs found under predict's arguments; whatever cannot be read (a dangling
link, a FIFO, a symbolic-link loop, an unreadable folder) is named with its reason, and the run goes
on with the rest."""

from __future__ import annotations

import os

import numpy as np
import pytest

from helpers import font_digits, predict, read_rows
from mnist_ann.predict.inputs.discovery import discover


def test_what_cannot_be_read_is_named_and_the_rest_is_found(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    np.save(folder / "sub" / "a.npy", font_digits()[:2])
    (folder / "sub" / "up").symlink_to(folder)  # a loop back to the top
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    os.mkfifo(folder / "pipe.png")
    found, skipped = discover([str(folder), str(tmp_path / "absent")])
    assert [item.path for item in found] == [str(folder / "sub" / "a.npy")]
    assert dict(skipped) == {
        str(folder / "gone.png"): "dangling symbolic link",
        str(folder / "pipe.png"): "a FIFO, not a regular file",
        str(folder / "sub" / "up"): "symbolic link loop: this folder is already being read",
        str(tmp_path / "absent"): "no such file or folder",
    }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_unreadable_folder_is_named(tmp_path):
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0)
    try:
        found, skipped = discover([str(tmp_path)])
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert found == [] and skipped == [(str(tmp_path / "locked"), "cannot read folder: Permission denied")]


@pytest.mark.heavy
def test_predict_goes_on_past_a_loop_and_lists_it(exported, tmp_path):
    """Issue 11: a symbolic-link loop aborted the whole run; a FIFO was skipped unnamed (exit 0)."""
    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits()[:2])
    (tmp_path / "loop").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "pipe.npy")
    result = predict("--model", model_path, tmp_path, "--output", tmp_path.parent / f"{tmp_path.name}.csv")
    assert result.returncode == 2, result.stderr
    assert len(read_rows(tmp_path.parent / f"{tmp_path.name}.csv")) == 2
    errors = {row["source"]: row["error"] for row in read_rows(tmp_path.parent / f"{tmp_path.name}.errors.csv")}
    assert errors == {str(tmp_path / "loop"): "symbolic link loop: this folder is already being read",
                      str(tmp_path / "pipe.npy"): "a FIFO, not a regular file"}  # fmt: skip
