"""settings.py: predict's options as one value, light enough for `mnist-ann --help`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mnist_ann.predict.inputs.images.preparation import Preparation
from mnist_ann.predict.settings import DEFAULT_BATCH, BatchSettings

# Every test here starts a process (the command, a stage, git or a decoding pool): not in `make check`.
pytestmark = pytest.mark.heavy


def test_the_defaults_are_the_commands():
    settings = BatchSettings()
    assert settings.batch_size == DEFAULT_BATCH == 8192
    assert settings.preparation == Preparation("auto", "mnist") and settings.npz_key is None
    help_text = subprocess.run(
        [sys.executable, "-m", "mnist_ann.cli", "predict", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert f"(default {DEFAULT_BATCH})" in help_text


def test_importing_it_imports_no_numpy():
    code = "import sys, mnist_ann.predict.settings, mnist_ann.predict.command; print('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
