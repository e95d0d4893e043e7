"""Batch inference: every input scored by the ONNX model, in chunks, rows written as they come.

Images are decoded by a pool of worker processes (both cores), a chunk per task, while the main
process scores and writes; array files are read a chunk at a time. An input that fails is reported
and skipped; the others go on.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .data import preprocess
from .discovery import Input
from .errors import InputError
from .images import decode_images
from .inference import OnnxModel
from .inputs import ArrayInput
from .predictions import PredictionWriter
from .preparation import Preparation

log = logging.getLogger(__name__)

IMAGES_PER_TASK = 256  # small enough to keep both workers busy, large enough to amortise the hand-off


@dataclass
class Outcome:
    scored: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, source: str, reason: str) -> None:
        log.warning("skipped %s: %s", source, reason)
        self.errors.append((source, reason))


@dataclass(frozen=True)
class BatchSettings:
    """How predict reads and scores its inputs (its command-line options)."""

    batch_size: int = 8192  # images per model call
    preparation: Preparation = Preparation()  # how image files become digits (background, framing)
    npz_key: str | None = None  # the array to read from .npz files; None: x, else x_test, else the only one
    workers: int = 1  # processes decoding image files


def score_inputs(
    model: OnnxModel,
    inputs: Sequence[Input],
    writer: PredictionWriter,
    settings: BatchSettings,
    progress: Callable[[int], None] = lambda n: None,
) -> Outcome:
    """Score `inputs` in their order into `writer`; `progress(n)` after every n images."""
    workers = settings.workers
    pool = _pool(workers) if workers > 1 and any(i.kind == "image" for i in inputs) else None
    scorer = _Scorer(model, writer, settings, pool, progress)
    try:
        for is_image, group in itertools.groupby(inputs, key=lambda i: i.kind == "image"):
            group = list(group)
            if is_image:
                scorer.score_images([i.path for i in group])
            else:
                for item in group:
                    scorer.score_array(item)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return scorer.outcome


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork: workers start in milliseconds and need nothing re-imported; they only run Pillow.
    context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_leave_signals_to_the_parent)


def _leave_signals_to_the_parent() -> None:
    """Ctrl-C reaches the whole process group: workers that took it would each print a traceback.
    The main process handles it (and SIGTERM) and shuts the pool down; workers finish their task."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@dataclass
class _Scorer:
    """One predict run's settings and its outcome so far."""

    model: OnnxModel
    writer: PredictionWriter
    settings: BatchSettings
    pool: ProcessPoolExecutor | None  # image decoders; None decodes in this process
    progress: Callable[[int], None]  # told the number of images tried after each chunk
    outcome: Outcome = field(default_factory=Outcome)

    def score_array(self, item: Input) -> None:
        """All images of one array file, or none of them (the file is checked before any is scored)."""
        source = str(item.path)
        try:
            array = ArrayInput(item, self.settings.npz_key)
            array.check(self.settings.batch_size)
            for start, pixels in array.chunks(self.settings.batch_size):
                self.writer.write_array_rows(source, start, self.model.predict(pixels))
                self.outcome.scored += len(pixels)
                self.progress(len(pixels))
        except InputError as exc:
            self.outcome.fail(source, str(exc))

    def score_images(self, paths: Sequence[str]) -> None:
        for tried, names, digits, prepared in self._decoded(paths):
            if names:
                self.writer.write(names, self.model.predict(preprocess(digits)), prepared)
                self.outcome.scored += len(names)
            self.progress(tried)

    def _decoded(self, paths: Sequence[str]) -> Iterator[tuple[int, list[str], np.ndarray, list[str]]]:
        """(images tried, names decoded, digits, what was applied to each) per task, in input
        order; failures go to the outcome."""
        size, preparation = min(IMAGES_PER_TASK, self.settings.batch_size), self.settings.preparation
        tasks = [paths[i : i + size] for i in range(0, len(paths), size)]
        if self.pool is not None:
            results = self.pool.map(decode_images, tasks, itertools.repeat(preparation))
        else:
            results = (decode_images(task, preparation) for task in tasks)
        for task, (digits, ok, prepared, failed) in zip(tasks, results):
            for source, reason in failed:
                self.outcome.fail(source, reason)
            yield len(task), [task[i] for i in ok], digits, prepared
