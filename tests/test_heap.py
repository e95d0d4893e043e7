"""heap.py: a process that decodes images keeps its freed memory for the next task instead of handing
it back and faulting it in again, and decode_images sets this in whichever process runs it."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Every test here starts a process (the command, a stage, git or a decoding pool): not in `make check`.
pytestmark = pytest.mark.heavy

# Fifty tasks in miniature, after `setup` (argv[1]): eight 1 MiB arrays alive at once, then freed.
# Prints the page faults that the fifty took.
CHURN = """
import resource, sys
import numpy as np
from PIL import Image

setup = sys.argv[1]
if setup == "keep":
    from mnist_ann.predict.inputs.images.heap import keep_freed_memory
    keep_freed_memory()
elif setup == "decode":  # what a worker, --workers 1's main process and a Ray actor run
    from mnist_ann.predict.inputs.images.decode import decode_images
    from mnist_ann.predict.inputs.images.preparation import Preparation
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(sys.argv[2])
    assert len(decode_images([sys.argv[2]], Preparation())[1]) == 1


def task():
    arrays = [np.ones(1 << 20, np.uint8) for _ in range(8)]
    return sum(int(a[-1]) for a in arrays)


task()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    task()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_process_that_decodes_keeps_freed_memory_instead_of_faulting_it_in_again(tmp_path):
    """The page faults of 50 tasks' worth of freed and reallocated arrays: with glibc's defaults,
    after keep_freed_memory, and after decode_images has run once in the process."""
    churned = {
        setup: subprocess.run(
            [sys.executable, "-c", CHURN, setup, str(tmp_path / "1.png")], capture_output=True, text=True
        )
        for setup in ("default", "keep", "decode")
    }
    assert all(run.returncode == 0 for run in churned.values()), [run.stderr for run in churned.values()]
    faults = {setup: int(run.stdout) for setup, run in churned.items()}
    assert faults["default"] > 50 * 8 * 200, faults  # each task's pages handed back and faulted in again
    assert faults["keep"] < faults["default"] / 20, faults
    assert faults["decode"] < faults["default"] / 20, faults
