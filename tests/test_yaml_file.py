"""params_file.py: a parameter file is read defensively. Issue 11: an alias bomb made every stage
hang at 4 GB, a 50 MB file hung for minutes, a FIFO blocked forever, and duplicate keys passed
(the last one winning) where DVC refuses the file."""

from __future__ import annotations

import os
import time

import pytest

from helpers import REPO
from mnist_ann.core.errors import ParamsError
from mnist_ann.training.params import load_params
from mnist_ann.training.params.yaml_file import MAX_PARAMS_BYTES, read_params_file

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(12)
)


@pytest.mark.parametrize(
    "text, message",
    [
        (BOMB, "not valid YAML (line 2): aliases (*name) are not allowed in a parameter file"),
        ("seed: 1\ntrain:\n  epochs: 5\n  epochs: 6\n", "not valid YAML (line 4): duplicate key 'epochs'"),
        ("seed: 1\nseed: 2\n", "not valid YAML (line 2): duplicate key 'seed'"),
        ("? [a, b]\n: 1\n", "not valid YAML (line 1): found unhashable key"),  # once a TypeError traceback
    ],
)
def test_aliases_and_duplicate_keys_are_refused_at_once(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ParamsError) as caught:
        read_params_file(path)
    assert str(caught.value) == f"{path}: {message}"
    assert time.monotonic() - started < 5  # the bomb hung for minutes


def test_oversized_file_and_fifo_are_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("seed: 1\n" + "#" * MAX_PARAMS_BYTES)
    with pytest.raises(ParamsError, match=f"big.yaml: {big.stat().st_size:,} bytes, over the 65,536-byte limit"):
        read_params_file(big)
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(ParamsError, match="fifo.yaml: a FIFO, not a regular file"):
        read_params_file(tmp_path / "fifo.yaml")


def test_the_real_params_yaml_reads(tmp_path):
    assert read_params_file(REPO / "params.yaml")["train"]["epochs"] == load_params(REPO / "params.yaml").train.epochs


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("train: " + "[" * 5000 + "]" * 5000 + "\n", "not valid params: nested too deeply"),
        ("seed: " + "9" * 5001 + "\n", "not valid params: Exceeds the limit"),
        ("seed: 42\n".encode("utf-16"), "not UTF-8 text (byte 0: invalid start byte)"),
    ],
    ids=["nested-5000-deep", "integer-of-5001-digits", "utf-16"],
)
def test_files_under_the_size_cap_that_yaml_cannot_take_are_one_line(tmp_path, content, says):
    """Issue 37 (17): deep nesting (RecursionError), a 5,001-digit integer (ValueError) and a UTF-16
    file (UnicodeDecodeError) were tracebacks from check-params and every stage."""
    path = tmp_path / "params.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ParamsError) as caught:
        read_params_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {says}") and "\n" not in message and len(message) < 300, message
