"""The one scoring engine of predict: inputs to batches to probabilities to rows, in input order.

The `Predictor`, the command on this machine (scoring.py) and the Ray actors (cluster/actor.py) all
score through these functions; what differs between them is only how image files are decoded (in
this process, on the decoding pool, on a cluster node) and where the rows go, a `Rows` sink: a list
of Predictions, a prediction file, the columns an actor returns. So the three give the same answers
for the same inputs, and a change to how an input is scored is made once.

Each decoded run and each array chunk is one model call, whatever the sink: the numbers do not
depend on who asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np

from ..core.mnist import preprocess
from . import objects
from .errors import InputError
from .inputs.arrays import ArrayInput
from .inputs.discovery import Input
from .inputs.images.decode import Decoded
from .outputs.number_rows import digit_starts
from .settings import BatchSettings


class Model(Protocol):
    """What scores model-ready pixels (N, 784) into probabilities (N, 10): an OnnxModel, or the
    Predictor's, which calls it in batches of DEFAULT_BATCH."""

    def predict(self, pixels: np.ndarray) -> np.ndarray: ...


def submitted(model: Model, pixels: np.ndarray) -> Callable[[], np.ndarray]:
    """The model's answer for `pixels`, taken later: a model that scores in the background (an
    OnnxModel's `submit`, a Watched one's) starts now; any other scores now."""
    submit = getattr(model, "submit", None)
    if submit is not None:
        return submit(pixels)
    probabilities = model.predict(pixels)
    return lambda: probabilities


class Rows(Protocol):
    """Where scored rows go, in input order: rows of images named one by one, rows of an array file
    (named by the file and their index), and inputs that could not be scored. Rows of numbers
    (--digits many) come with `counts`: row i's digits are the next counts[i] rows of
    `probabilities`, left to right."""

    def scored(
        self,
        sources: Sequence[str],
        probabilities: np.ndarray,
        prepared: Sequence[str],
        counts: Sequence[int] | None = None,
    ) -> None: ...

    def scored_array(self, path: str, start: int, probabilities: np.ndarray) -> None: ...

    def failed(self, source: str, reason: str) -> None: ...


def score_decoded(model: Model, sources: Sequence[str], decoded: Decoded, rows: Rows) -> None:
    """A run of image inputs, decoded and prepared (`decoded`, in the order of `sources`), scored in
    one model call; each input's row or failure goes to `rows` in the order of `sources`. A number's
    digits are all in that call, and its row gets them all."""
    ok, counts = decoded.ok, decoded.counts
    probabilities = model.predict(preprocess(decoded.digits)) if len(decoded.digits) else None
    # where each scored input's digits begin among the probabilities (one each, but for numbers)
    starts = digit_starts(counts if counts is not None else [1] * len(ok))
    reasons = iter(decoded.failed)  # in the order of `sources`, as the scored ones are
    scored, run = set(ok), 0  # run: the scored inputs handed on so far
    position = 0
    while position < len(sources):
        if position not in scored:
            rows.failed(*next(reasons))
            position += 1
            continue
        end = position
        while end < len(sources) and end in scored:
            end += 1
        count = end - position
        assert probabilities is not None  # some input was scored
        digits = probabilities[starts[run] : starts[run + count]]
        numbers = None if counts is None else counts[run : run + count]
        rows.scored(sources[position:end], digits, decoded.prepared[run : run + count], numbers)
        run, position = run + count, end


def score_chunks(model: Model, path: str, chunks: Iterable[tuple[int, np.ndarray]], rows: Rows) -> None:
    """(first row, model-ready pixels) chunks of one array input, one model call each. The model
    scores a chunk while the next is read and prepared and the rows of the one before are written
    (one call queued behind the running one: onnxruntime never waits for this thread, which did a
    third of the work; two chunks in memory). A chunk that cannot be read ends the input after the
    rows of every chunk before it, as it did one call at a time."""
    pending: tuple[int, Callable[[], np.ndarray]] | None = None
    try:
        for start, pixels in chunks:
            answer = submitted(model, pixels)
            if pending is not None:
                rows.scored_array(path, pending[0], pending[1]())
            pending = (start, answer)
    except InputError:
        if pending is not None:
            rows.scored_array(path, pending[0], pending[1]())
        raise
    if pending is not None:
        rows.scored_array(path, pending[0], pending[1]())


def score_array_file(model: Model, item: Input, settings: BatchSettings, rows: Rows) -> None:
    """Every image of one array file or object, checked before any is scored; a file that cannot
    be read is that input's failure, and the others go on."""
    source = str(item.path)
    try:
        with objects.local_file(item.path, item.kind) as local:  # an object (s3://): copied here whole
            array = ArrayInput(Input(local, item.kind), settings.npz_key)
            array.check(settings.batch_size)
            score_chunks(model, source, array.chunks(settings.batch_size), rows)
    except InputError as exc:
        rows.failed(source, str(exc))
