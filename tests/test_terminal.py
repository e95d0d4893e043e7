"""core/terminal.py: a progress bar where a person watches (stderr a terminal), none in a file or a pipe."""

from __future__ import annotations

import os
import pty
import sys

from helpers import terminal_output
from mnist_ann.core.terminal import progress_bar


def test_no_bar_off_a_terminal(tmp_path, monkeypatch):
    with open(tmp_path / "log", "w") as log:
        monkeypatch.setattr(sys, "stderr", log)
        assert progress_bar(5, "epoch", "training") is None
    assert (tmp_path / "log").read_text() == ""


def test_on_a_terminal_a_bar_with_its_total_and_the_time_left(monkeypatch):
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        bar = progress_bar(4, "epoch", "training")
        assert bar is not None
        bar.update(2)
        bar.close()
    shown = terminal_output(leader).decode()
    assert "training:" in shown and "2/4 [" in shown and "<" in shown.split("2/4 [", 1)[1], shown


def test_without_a_total_it_counts(monkeypatch):
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        bar = progress_bar(None, "img", "3 inputs")
        bar.update(7)
        bar.close()
    shown = terminal_output(leader).decode()
    assert "3 inputs:" in shown and "7" in shown, shown
