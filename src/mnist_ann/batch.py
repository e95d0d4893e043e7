"""Batch inference: every input scored by the ONNX model, in chunks, rows written as they come.

Images are decoded by a pool of worker processes (both cores), a chunk per task, while the main
process scores and writes; array files are read a chunk at a time. An input that fails is reported
and skipped; the others go on.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from .data import preprocess
from .inference import OnnxModel
from .inputs import ArrayInput, Input, InputError, decode_images
from .predictions import PredictionWriter

log = logging.getLogger(__name__)

IMAGES_PER_TASK = 256  # small enough to keep both workers busy, large enough to amortise the hand-off


@dataclass
class Outcome:
    scored: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, source: str, reason: str) -> None:
        log.warning("skipped %s: %s", source, reason)
        self.errors.append((source, reason))


def score_inputs(
    model: OnnxModel,
    inputs: Sequence[Input],
    writer: PredictionWriter,
    *,
    batch_size: int,
    invert: bool = False,
    npz_key: str | None = None,
    workers: int = 1,
    progress: Callable[[int], None] = lambda n: None,
) -> Outcome:
    """Score `inputs` in their order into `writer`; `progress(n)` after every n images."""
    outcome = Outcome()
    pool = _pool(workers) if workers > 1 and any(i.kind == "image" for i in inputs) else None
    try:
        for is_image, group in itertools.groupby(inputs, key=lambda i: i.kind == "image"):
            group = list(group)
            if is_image:
                _score_images(model, [i.path for i in group], writer, outcome, batch_size, invert, pool, progress)
            else:
                for item in group:
                    _score_array(model, item, writer, outcome, batch_size, npz_key, progress)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return outcome


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork: workers start in milliseconds and need nothing re-imported; they only run Pillow.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))


def _score_array(model, item, writer, outcome, batch_size, npz_key, progress) -> None:
    source = str(item.path)
    try:
        array = ArrayInput(item, npz_key)
        array.check(batch_size)
        for start, pixels in array.chunks(batch_size):
            writer.write_array_rows(source, start, model.predict(pixels))
            outcome.scored += len(pixels)
            progress(len(pixels))
    except InputError as exc:
        outcome.fail(source, str(exc))


def _score_images(model, paths, writer, outcome, batch_size, invert, pool, progress) -> None:
    for tried, names, digits in _decoded(paths, invert, batch_size, pool, outcome):
        if names:
            writer.write(names, model.predict(preprocess(digits)))
            outcome.scored += len(names)
        progress(tried)


def _decoded(paths, invert, batch_size, pool, outcome) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """(images tried, names decoded, digits) per task, in input order; failures go to `outcome`."""
    size = min(IMAGES_PER_TASK, batch_size)
    tasks = [paths[i : i + size] for i in range(0, len(paths), size)]
    results = pool.map(decode_images, tasks, itertools.repeat(invert)) if pool else (decode_images(t, invert) for t in tasks)
    for task, (digits, ok, failed) in zip(tasks, results):
        for source, reason in failed:
            outcome.fail(source, reason)
        yield len(task), [task[i] for i in ok], digits
