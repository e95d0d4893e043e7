"""Batch inference: every input scored by the ONNX model, in chunks, rows written as they come.

Images are decoded by worker processes (images/pool.py) while the main process scores and writes;
array files are read a chunk at a time. An input that fails is reported
and skipped; the others go on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..core.mnist import preprocess
from ..core.onnx_model import OnnxModel
from . import objects
from .errors import InputError
from .inputs.arrays import ArrayInput
from .inputs.discovery import Input
from .inputs.images.pool import ImageDecoder, runs_by_kind
from .outputs.prepared import PreparedFolder
from .outputs.writers import PredictionWriter
from .settings import BatchSettings

log = logging.getLogger(__name__)


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
                    scorer.score_array(item)
    return scorer.outcome


def start_decoding(inputs: Sequence[Input], settings: BatchSettings) -> ImageDecoder:
    """The image files among `inputs` decoding on `settings.workers` processes from now on."""
    return ImageDecoder(inputs, settings.preparation, settings.workers, settings.batch_size)


@dataclass
class _Scorer:
    """One predict run's settings and its outcome so far."""

    model: OnnxModel
    writer: PredictionWriter
    settings: BatchSettings
    decoder: ImageDecoder  # the image files, decoding ahead of the scorer
    progress: Callable[[int], None]  # told the number of images tried after each chunk
    prepared: PreparedFolder | None = None  # where the scored digits of image files are saved
    outcome: Outcome = field(default_factory=Outcome)

    def score_array(self, item: Input) -> None:
        """All images of one array file, or none of them (the file is checked before any is scored)."""
        source = str(item.path)
        try:
            with objects.local_file(item.path) as local:
                array = ArrayInput(Input(local, item.kind), self.settings.npz_key)
                array.check(self.settings.batch_size)
                for start, pixels in array.chunks(self.settings.batch_size):
                    self.writer.write_array_rows(source, start, self.model.predict(pixels))
                    self.outcome.scored += len(pixels)
                    self.progress(len(pixels))
        except InputError as exc:
            self.outcome.fail(source, str(exc))

    def score_images(self, paths: Sequence[str]) -> None:
        for task, (digits, ok, prepared, failed) in self.decoder.decoded(paths):
            for source, reason in failed:
                self.outcome.fail(source, reason)
            if ok:
                sources = [task[i] for i in ok]
                self.writer.write(sources, self.model.predict(preprocess(digits)), prepared)
                if self.prepared is not None:
                    self.prepared.save(sources, digits)
                self.outcome.scored += len(ok)
            self.progress(len(task))
