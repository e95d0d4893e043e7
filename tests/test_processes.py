"""processes.py: a live process is seen as alive, a finished one as gone."""

from __future__ import annotations

import os
import subprocess
import sys

from mnist_ann.processes import process_alive


def test_alive_and_dead_processes():
    assert process_alive(os.getpid())
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not process_alive(int(finished.stdout))
    assert process_alive(1)  # init: exists, whoever owns it
