"""Waits on the object store: bounded in total time and in a listing's memory, ended by a signal at
once, and a call given up on does not hold the process's exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from mnist_ann.predict import bounded
from mnist_ann.predict.errors import InputError, ObjectStoreError


def test_a_call_that_answers_in_time_gives_its_result_or_its_exception():
    assert bounded.call(lambda: 42, "s3://b/k", 5) == 42
    with pytest.raises(ZeroDivisionError):
        bounded.call(lambda: 1 / 0, "s3://b/k", 5)


def test_a_call_past_its_deadline_is_given_up_in_one_line_naming_what():
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ObjectStoreError, match=r"^s3://b/k: no complete answer from the store within 1 s; given up$"):
        bounded.call(release.wait, "s3://b/k", 1)
    assert time.monotonic() - started < 3
    with pytest.raises(InputError, match=r"^no complete answer"):  # an input's error: its input names it
        bounded.call(release.wait, "s3://b/k", 0.2, error=InputError)
    release.set()


def test_a_listing_that_takes_memory_without_end_is_given_up(monkeypatch):
    hoard: list[bytes] = []
    stop = threading.Event()

    def grow() -> None:
        while not stop.is_set():
            hoard.append(os.urandom(1 << 20))  # touched: resident, as pages of keys are
            time.sleep(0.005)

    try:
        with pytest.raises(ObjectStoreError, match=r"took over 64 MiB of memory before it ended; given up"):
            bounded.call(grow, "s3://b/p/", 60, max_growth=64 << 20)
    finally:
        stop.set()
    assert len(hoard) < 1000  # stopped near its bound, not at the deadline


def test_the_deadline_of_a_transfer_grows_with_its_size():
    assert bounded.transfer_deadline(0) == bounded.REQUEST_DEADLINE_S
    assert bounded.transfer_deadline(100 * bounded.MIN_RATE) == bounded.REQUEST_DEADLINE_S + 100


WAITS_FOR_EVER = """
import sys, threading
from mnist_ann.core.process import run_main
from mnist_ann.predict import bounded
import pyarrow.fs  # its exit hook is what would wait

def main(argv):
    print("waiting", flush=True)
    bounded.call(threading.Event().wait, "s3://b/k", 3600)

run_main(main)
"""


@pytest.mark.heavy
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_a_wait_on_the_store_within_a_second(tmp_path, sig, status):
    from helpers import popen_with_default_signals

    command = [sys.executable, "-c", WAITS_FOR_EVER]
    process = popen_with_default_signals(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "waiting\n"
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 2, "the command did not end within seconds of the signal"
    assert process.returncode == status
    assert stderr.strip().splitlines()[-1] in ("terminated", "interrupted")
    assert "Traceback" not in stderr
