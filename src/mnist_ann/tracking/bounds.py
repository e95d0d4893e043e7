"""Bounds on waiting for a tracking server, and on what it may send.

MLflow's HTTP limits (store.HTTP_LIMITS) bound each read, not a whole call: a server that answers
200 and then sends one byte every 3 s keeps a call going for as long as it likes, and an answer is
read whole into memory however large it is. Here every use of a server is given a total time
(`bounded_wait`), and every answer a size (`limit_answers`): JSON answers are read into memory in
pieces up to MAX_ANSWER_BYTES, files streamed to disk up to MAX_FILE_BYTES. And `store_write`, the
guard around one write once a stage is under way: bounded for a server, held whole for SQLite.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ..core.errors import TrackingError, first_line

# Seconds a whole use of a server may take: a stage's start (the train stage must fail within 30 s
# of a stalled server, imports included), one write once the stage is under way (an artifact
# upload), and fetching a model or a card. MNIST_ANN_STORE_DEADLINE sets all three.
START_SECONDS, WRITE_SECONDS, FETCH_SECONDS = 15.0, 60.0, 30.0
DEADLINE_VARIABLE = "MNIST_ANN_STORE_DEADLINE"
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # MLflow's JSON answers are KB (200 runs: about 1 MB)
MAX_FILE_BYTES = 1024 * 1024 * 1024  # an artifact: the model is about 1 MB, the largest allowed 200 MB
_PIECE = 64 * 1024


def deadline(default: float) -> float:
    """`default`, or the seconds MNIST_ANN_STORE_DEADLINE names (a positive number)."""
    text = os.environ.get(DEADLINE_VARIABLE, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise TrackingError(f"{DEADLINE_VARIABLE}={text!r}: must be a number of seconds above 0")
    return seconds


@contextlib.contextmanager
def bounded_wait(uri: str, seconds: float) -> Iterator[None]:
    """The block's calls to the server at `uri` end within `seconds` in all, else TrackingError.
    Only a server's calls are bounded (SQLite has its busy timeout, and must not be cut inside a
    write), and only on the main thread, where Python runs signal handlers. The alarm repeats each
    second after the deadline: code that swallows the first error does not wait on unbounded."""
    if not uri.startswith(("http://", "https://")) or threading.current_thread() is not threading.main_thread():
        yield
        return
    limit_answers()
    message = f"no whole answer within {seconds:g} s (the server stalls, or drips its answers)"
    expired = []

    def expire(signum: int, frame: Any) -> None:
        expired.append(signum)
        raise TrackingError(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    except Exception:
        if expired:  # whatever MLflow or requests wrapped the timeout in: say it plainly
            raise TrackingError(message) from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def store_problem(exc: BaseException) -> str:
    """What went wrong with a store, in one line: a bound's own words where `exc` holds one
    (MLflow rewraps a response hook's error in "API request to ... failed with exception ..."),
    else `exc`'s first line."""
    return bound_broken(exc) or first_line(exc)


def bound_broken(exc: BaseException) -> str | None:
    """The words of the bound (time, size) that `exc` holds, if it holds one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TrackingError):
            return first_line(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def not_found_or_failed(uri: str, store: str, exc: BaseException) -> str:
    """A registry lookup's failure as its one line: a store that broke a bound failed; anything
    else (MLflow's RESOURCE_DOES_NOT_EXIST, a dead store) is said as MLflow said it."""
    bound = bound_broken(exc)
    if bound:
        return f"{uri}: the MLflow store at {store} failed: {bound}"
    return f"{uri}: not found in the MLflow store at {store}: {first_line(exc)}"


def limit_answers() -> None:
    """Give every HTTP session MLflow makes the size check of `checked_answer` (once per process)."""
    from mlflow.utils import request_utils

    made = request_utils._get_request_session
    if getattr(made, "limits_answers", False):
        return

    def session_with_limits(*args: Any, **kwargs: Any) -> Any:
        session = made(*args, **kwargs)  # MLflow caches its sessions: the hook is added once to each
        if checked_answer not in session.hooks["response"]:
            session.hooks["response"].append(checked_answer)
        return session

    session_with_limits.limits_answers = True  # type: ignore[attr-defined]  # a mark on the function
    request_utils._get_request_session = session_with_limits


def checked_answer(response: Any, *, stream: bool = False, **_: Any) -> Any:
    """requests' response hook, run before the body is read: an answer larger than its limit is
    refused, by its declared length or once that many bytes arrived."""
    limit = MAX_FILE_BYTES if stream else MAX_ANSWER_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise TrackingError(f"{response.url}: an answer of {int(declared):,} bytes (the limit is {limit:,})")
    stream_of = response.raw.stream

    def counted_stream(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        received = 0
        for piece in stream_of(*args, **kwargs):  # decoded: a compressed answer counts as it unpacks
            received += len(piece)
            if received > limit:
                response.close()
                raise TrackingError(f"{response.url}: an answer of more than {limit:,} bytes")
            yield piece

    response.raw.stream = counted_stream  # what requests reads a body through (iter_content)
    if not stream:
        response._content = b"".join(counted_stream(_PIECE, decode_content=True))
    return response


STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def store_write(mlflow: Any):
    """Around one write to the store. A server's is bounded in time (bounds.WRITE_SECONDS in all),
    and not held: Ctrl-C must cut a stalled one short. A SQLite store's is held: Ctrl-C, SIGTERM
    and SIGHUP wait until it is done, since cut inside SQLite a write could leave the run
    unmarkable, RUNNING (seen once in the suite). The handlers are swapped, not the signals
    blocked: a blocked signal goes to another thread and Python runs its handler here all the same."""
    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:"):
        with bounded_wait(uri, deadline(WRITE_SECONDS)):
            yield
        return
    held = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in STOPPING} if held else {}
    pending: list[int] = []
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, lambda number, frame: pending.append(number))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for number in pending[:1]:  # as it would have arrived, now that the write is whole
            signal.raise_signal(number)
