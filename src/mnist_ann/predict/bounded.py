"""Every wait on the object store bounded in total time, and ended by a signal within a moment.

pyarrow's S3 calls are C++ calls that hold their thread until the store has answered in full. Two
things followed. A signal's Python handler runs only when such a call returns, so SIGTERM and
Ctrl-C were ignored inside a listing that never ended. And pyarrow's own bounds are per request
(curl's connect and low-speed limits), so an object sent at 2 bytes a second, above the stall
limit, was read for ever.

Each call therefore runs on a helper thread. The caller waits for it on an event, which a signal
interrupts, up to a deadline: a fixed time for a request, plus the time its bytes take at a floor
rate for a transfer. A listing is also held to a bound on the memory it takes, since pyarrow keeps
every page until the last. A C++ call cannot be cancelled, so a call given up on is left to its
thread. The process does not wait for that thread when it exits: pyarrow's exit hook, which waits
for requests in flight, is replaced by one that skips them.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import InputError, ObjectStoreError

T = TypeVar("T")

REQUEST_DEADLINE_S = 60.0  # any one call, a whole answer: a HEAD, a DELETE, a copy on the store
MIN_RATE = 256 << 10  # bytes a second: a transfer of N bytes may take N / MIN_RATE on top
LISTING_DEADLINE_S = 600.0  # a whole listing, however many pages (a million keys take about a minute)
LISTING_MAX_BYTES = 1 << 30  # the memory a listing may take: pyarrow holds every page until the last
_POLL_S = 0.2  # how often a listing's memory is looked at


def transfer_deadline(size: int) -> float:
    """Seconds allowed for a transfer of `size` bytes."""
    return REQUEST_DEADLINE_S + size / MIN_RATE


def call(
    function: Callable[[], T],
    what: str,
    seconds: float,
    *,
    error: type[Exception] = ObjectStoreError,
    max_growth: int | None = None,
) -> T:
    """`function()`'s result (or its exception), waited for at most `seconds` in all and, with
    `max_growth`, only while this process has grown by less than that many bytes. Beyond either,
    `error` naming `what` (an InputError leaves it out: its input is named where it is listed). A
    signal's exception (Ctrl-C, core.process.Terminated) ends the wait at once."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller, who raises it
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=run, name=f"mnist-ann store call: {what}", daemon=True)
    worker.start()
    try:
        reason = _wait(done, seconds, max_growth)
    except BaseException:  # a signal: the command ends now, the call is left to its thread
        _abandon(worker)
        raise
    if reason is not None:
        _abandon(worker)
        raise error(reason if error is InputError else f"{what}: {reason}")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _wait(done: threading.Event, seconds: float, max_growth: int | None) -> str | None:
    """Wait for `done`; why the wait was given up, or None when it was set."""
    if max_growth is None:
        return None if done.wait(seconds) else f"no complete answer from the store within {seconds:.0f} s; given up"
    deadline, start = time.monotonic() + seconds, _resident_bytes()
    while not done.wait(min(_POLL_S, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            return f"the listing did not end within {seconds:.0f} s; given up (list a narrower prefix)"
        if _resident_bytes() - start > max_growth:
            return (
                f"the listing took over {max_growth >> 20} MiB of memory before it ended; given up "
                "(list a narrower prefix)"
            )
    return None


def _resident_bytes() -> int:
    """This process's resident memory (Linux's /proc; 0 where it is absent, which bounds nothing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_abandoned: list[threading.Thread] = []


def _abandon(worker: threading.Thread) -> None:
    """Leave `worker` to finish (or not) on its own; from now on the process's exit finalizes
    pyarrow's S3 subsystem only if every call given up on has ended (finalizing waits for them)."""
    if not _abandoned:
        from pyarrow import fs

        atexit.unregister(fs.ensure_s3_finalized)
        atexit.register(_finalize_unless_busy)
    _abandoned.append(worker)


def _finalize_unless_busy() -> None:
    if not any(worker.is_alive() for worker in _abandoned):
        from pyarrow import fs

        fs.ensure_s3_finalized()
