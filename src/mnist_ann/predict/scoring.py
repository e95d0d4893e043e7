"""The command's run on this machine: every input scored through the engine (engine.py), rows
written as they come.

Images are decoded by worker processes (inputs/images/pool.py) while the main process scores and
writes; array files are read a chunk at a time. An input that fails is reported and skipped; the
others go on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .engine import Model, score_array_file, score_decoded
from .inputs.discovery import Input
from .inputs.images.pool import ImageDecoder, runs_by_kind
from .inputs.images.preparation import several_marks
from .outputs.prepared import PreparedFolder
from .outputs.writers import PredictionWriter
from .settings import BatchSettings

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    scored: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    several: int = 0  # pictures of several digit-sized marks, each read as one digit

    def fail(self, source: str, reason: str) -> None:
        log.warning("skipped %s: %s", source, reason)
        self.errors.append((source, reason))


def score_inputs(
    model: Model,
    inputs: Sequence[Input],
    writer: PredictionWriter,
    settings: BatchSettings,
    *,
    progress: Callable[[int], None] = lambda n: None,
    decoder: ImageDecoder | None = None,
    prepared: PreparedFolder | None = None,
) -> Outcome:
    """Score `inputs` in their order into `writer`; `progress(n)` after every n images. Image files
    come from `decoder` (made for these inputs, see start_decoding), else from one made now; the
    digits they were scored as go to `prepared` too, where given (--save-prepared)."""
    with contextlib.ExitStack() as stack:
        if decoder is None:
            decoder = stack.enter_context(start_decoding(inputs, settings))
        scorer = _Scorer(model, writer, settings, decoder, progress, prepared)
        for is_image, group in runs_by_kind(inputs):
            if is_image:
                scorer.score_images([i.path for i in group])
            else:
                for item in group:
                    score_array_file(model, item, settings, scorer)
    return scorer.outcome


def start_decoding(inputs: Sequence[Input], settings: BatchSettings) -> ImageDecoder:
    """The image files among `inputs` decoding on `settings.workers` processes from now on."""
    return ImageDecoder(inputs, settings.preparation, settings.workers, settings.batch_size)


@dataclass
class _Scorer:
    """One predict run's settings and its outcome so far: the engine's rows go to its writer."""

    model: Model
    writer: PredictionWriter
    settings: BatchSettings
    decoder: ImageDecoder  # the image files, decoding ahead of the scorer
    progress: Callable[[int], None]  # told the number of images tried after each chunk
    prepared: PreparedFolder | None = None  # where the scored digits of image files are saved
    outcome: Outcome = field(default_factory=Outcome)

    def score_images(self, paths: Sequence[str]) -> None:
        for task, decoded in self.decoder.decoded(paths):
            score_decoded(self.model, task, decoded, self)
            if self.prepared is not None and decoded.ok:
                self.prepared.save([task[i] for i in decoded.ok], decoded.digits, decoded.counts)
            self.progress(len(task))

    def scored(
        self,
        sources: Sequence[str],
        probabilities: np.ndarray,
        prepared: Sequence[str],
        counts: Sequence[int] | None = None,
    ) -> None:
        self.writer.write(sources, probabilities, prepared, counts)
        self.outcome.scored += len(sources)
        self.outcome.several += several_marks(prepared)

    def scored_array(self, path: str, start: int, probabilities: np.ndarray) -> None:
        self.writer.write_array_rows(path, start, probabilities)
        self.outcome.scored += len(probabilities)
        self.progress(len(probabilities))

    def failed(self, source: str, reason: str) -> None:
        self.outcome.fail(source, reason)
