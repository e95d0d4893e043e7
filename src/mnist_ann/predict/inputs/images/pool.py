"""Image files decoded by worker processes (one per core) while the main process scores and writes.

Decoding starts when the decoder is made, before the model is loaded, so that it overlaps
onnxruntime's start-up; the workers are forked then, before onnxruntime exists in the process. Only a
few tasks per worker are handed out ahead of the scorer, so memory stays flat however many files
there are. Results come back in input order.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from ..discovery import Input
from .decode import Decoded, decode_images
from .preparation import Preparation

IMAGES_PER_POOL_TASK = 256  # small enough to keep both workers busy, large enough to amortise the hand-off
TASKS_AHEAD_PER_WORKER = 4  # handed out before the scorer asks: workers never wait on it


class ImageDecoder:
    """Decodes the image inputs among `inputs` on `workers` processes (in this process when 1),
    `task_size` images per task; `decoded(paths)` then gives each group's results in order."""

    def __init__(self, inputs: Sequence[Input], preparation: Preparation, workers: int, task_size: int):
        self.preparation = preparation
        self.task_size = min(IMAGES_PER_POOL_TASK, task_size)
        paths = [[i.path for i in group] for is_image, group in runs_by_kind(inputs) if is_image]
        self._tasks = iter([p[i : i + self.task_size] for p in paths for i in range(0, len(p), self.task_size)])
        self._pool = _pool(workers) if workers > 1 and paths else None
        self._ahead = workers * TASKS_AHEAD_PER_WORKER
        self._pending: collections.deque[tuple[list[str], Future | None]] = collections.deque()
        self._hand_out()

    @property
    def in_flight(self) -> int:
        """Tasks handed out and not yet taken by the scorer."""
        return len(self._pending)

    def decoded(self, paths: Sequence[str]) -> Iterator[tuple[list[str], Decoded]]:
        """(task's paths, its result) for each task of `paths`, the next run of image inputs in
        input order."""
        for _ in range(0, len(paths), self.task_size):
            task, future = self._pending.popleft()
            self._hand_out()
            yield task, future.result() if future is not None else decode_images(task, self.preparation)

    def close(self, *, at_once: bool = False) -> None:
        """Shut the workers down: after their tasks, or `at_once` (the run failed or was stopped by
        a signal: a worker waiting on a slow object store held the command for as long), killed."""
        if self._pool is None:
            return
        if at_once:
            for worker in list((self._pool._processes or {}).values()):  # 3.14 names it terminate_workers()
                worker.kill()
        # Waited for even when killed (then at once): the pool's thread, still tidying up as the
        # interpreter ended, printed a traceback after the command's one-line error.
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ImageDecoder:
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        self.close(at_once=exc_type is not None)

    def _hand_out(self) -> None:
        for task in itertools.islice(self._tasks, max(0, self._ahead - len(self._pending))):
            future = self._pool.submit(decode_images, task, self.preparation) if self._pool else None
            self._pending.append((task, future))


def runs_by_kind(inputs: Sequence[Input]) -> Iterator[tuple[bool, list[Input]]]:
    """Consecutive inputs grouped by whether they are image files, in order."""
    for is_image, group in itertools.groupby(inputs, key=lambda i: i.kind == "image"):
        yield is_image, list(group)


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork: workers start in milliseconds and need nothing re-imported; they only run Pillow.
    context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_leave_signals_to_the_parent)


def _leave_signals_to_the_parent() -> None:
    """Ctrl-C reaches the whole process group: workers that took it would each print a traceback.
    The main process handles it (and SIGTERM, and a terminal's SIGHUP) and shuts the pool down;
    workers finish their task."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
