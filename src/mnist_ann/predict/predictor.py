"""The Python API of predict: `Predictor(model).predict(images)`, for a notebook or a web handler,
with the preparation and the numbers of `mnist-ann predict`: both score through the same engine
(engine.py), and the command loads its model and preparation through a Predictor. numpy,
onnxruntime and Pillow only: never TensorFlow, and mlflow only for a model named by an MLflow URI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..core.files import file_sha256
from ..core.mnist import IMAGE_SHAPE, NUM_CLASSES, NUM_PIXELS, preprocess
from ..core.monitoring import Watch, in_sample
from ..core.onnx_model import OnnxModel
from .engine import score_array_file, score_decoded
from .errors import InputError
from .inputs.arrays import input_errors
from .inputs.discovery import Input, discover, kind_of
from .inputs.images.decode import Decoded, decode_images, prepare_pil_images
from .inputs.images.preparation import Preparation
from .model_source import model_file
from .monitor import unmonitored, watch_for
from .outputs.number_rows import digit_starts
from .outputs.writers import ARRAY_ROWS
from .settings import DEFAULT_BATCH, BatchSettings


@dataclass(frozen=True)
class Prediction:
    """One image's answer: what it was (`source`), the digit and the ten probabilities, and what
    preparation did (`mnist/light`, `none/dark`, ... as the command's `prepared` column; `as-is` for
    arrays); or, for an image that could not be scored, the reason (`error`) and no digit."""

    source: str  # a file as given, `path#i` for row i of an array file, `[i]` for item i given in memory
    label: int | None
    probabilities: np.ndarray | None  # float32 (10,)
    prepared: str | None
    error: str | None = None
    # the image's distance from MNIST's pixel space (core/monitoring.py), where the model carries a
    # monitoring reference: what Predictor.summary needs beside the probabilities
    residual: float | None = None

    @property
    def confidence(self) -> float | None:
        return None if self.probabilities is None else float(self.probabilities.max())


@dataclass(frozen=True)
class NumberPrediction:
    """One picture read as a number (`Predictor(digits="many")`): its digits left to right as one
    string (`label`, "2024"), each digit's label and ten probabilities, and what preparation did; or,
    for a picture that could not be read, the reason (`error`) and no digits."""

    source: str
    label: str | None
    digits: list[int]  # each digit's label, left to right
    probabilities: np.ndarray | None  # float32 (k, 10): each digit's
    prepared: str | None
    error: str | None = None
    residuals: list[float | None] | None = None  # each digit's distance from MNIST's pixels, as Prediction's

    @property
    def confidence(self) -> float | None:
        """The lowest of its digits' confidences: the number is as sure as its least sure digit."""
        return None if self.probabilities is None else float(self.probabilities.max(axis=1).min())

    @property
    def digit_confidences(self) -> list[float]:
        return [] if self.probabilities is None else self.probabilities.max(axis=1).tolist()


class Predictor:
    """An ONNX model and the way images are prepared for it.

    `model`: an .onnx file, or an MLflow URI (`models:/mnist-ann@champion`) fetched from the
    pipeline's store; default `models/model.onnx`. `int8`: the int8 model of the export (default
    `models/int8/model.int8.onnx`) or of the registered version `model` names. `background` and
    `frame` are the command's `--background` and `--frame`; `digits="many"` reads each picture as a
    number (the command's `--digits many`), and `predict` answers with NumberPredictions. A model
    that cannot be used is a ModelError, at once.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        int8: bool = False,
        background: str = "auto",
        frame: str = "mnist",
        digits: str = "one",
    ):
        self.preparation = Preparation(background=background, frame=frame, digits=digits)
        with model_file(model, int8=int8) as path:
            self.model = OnnxModel(path)
            self.named = {"named": str(model) if model is not None else str(path), "sha256": file_sha256(path)}
        self.watching = watch_for(self.model)  # a Watch (its reference is what is used), or why there is none
        self._residuals: list[float] = []  # of the images scored, not yet handed to a Prediction

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 10) probabilities for model-ready pixels (N, 784) float32, in model calls of DEFAULT_BATCH."""
        parts = [self.model.predict(pixels[i : i + DEFAULT_BATCH]) for i in range(0, len(pixels), DEFAULT_BATCH)]
        if not isinstance(self.watching, str):
            for i in range(0, len(pixels), DEFAULT_BATCH):
                self._residuals += self.watching.reference.residuals(pixels[i : i + DEFAULT_BATCH]).tolist()
        return np.concatenate(parts) if parts else np.empty((0, NUM_CLASSES), np.float32)

    def summary(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """The batch summary of `predictions` (theirs, from this Predictor), as `mnist-ann predict`
        writes it beside its output: drift, an estimated accuracy, the counts (docs/predict.md)."""
        scored = [pair for p in predictions for pair in _digit_pairs(p)]
        if isinstance(self.watching, str):
            return unmonitored(len(scored), self.named, self.watching)
        watch = Watch(self.watching.reference)
        if scored:
            probabilities = np.stack([probability for probability, _ in scored])
            sampled = in_sample(np.arange(len(scored)))  # as the command samples the same batch
            residuals = [residual for (_, residual), chosen in zip(scored, sampled) if chosen]
            if any(residual is None for residual in residuals):
                raise ValueError("summary: predictions without a residual were not made by this Predictor")
            watch.observe_signals(probabilities, np.array(residuals, np.float64), sampled)
        return watch.summary(self.named)

    def _take_residuals(self, count: int) -> list[float | None]:
        """The residuals of the next `count` scored images, in the order they were scored."""
        if isinstance(self.watching, str):
            return [None] * count
        taken, self._residuals = self._residuals[:count], self._residuals[count:]
        return list(taken)

    def prepare_files(self, paths: list[str]) -> Decoded:
        """Image files decoded and prepared in this process, as the command's workers do it."""
        return decode_images(paths, self.preparation)

    def predict(self, images: Any) -> list[Any]:
        """One Prediction per image, in order (a NumberPrediction with `digits="many"`). `images`:
        an image file's path, a PIL image, or an
        array of shape (28, 28), (N, 28, 28) or (N, 784) (uint8 0-255, float 0-1, or bool with True
        for ink; taken in MNIST's form as it is, as the command takes array files); or a list of paths
        (image or array files, or folders of them, found as the command finds them), PIL images and
        single (28, 28) arrays, one Prediction for each image and array item.
        Image files and PIL images are prepared first.
        An input that cannot be scored gets its `error`; the others are scored all the same."""
        self._residuals = []
        answers = _Answers(self._take_residuals, self.preparation.numbers)
        if isinstance(images, np.ndarray):
            names = [f"[{i}]" for i in range(_count(images))]
            answers.scored(names, self.probabilities(_pixels(images, "the array")), [ARRAY_ROWS] * len(names))
            return answers.predictions
        items = [images] if isinstance(images, (str, Path)) or _is_pil(images) else list(_iterable(images))
        for kind, group in _runs(_found(items)):
            self._run(kind, group, answers)
        return answers.predictions

    def _run(self, kind: str, group: list[tuple[int, Any]], answers: _Answers) -> None:
        batched = _Batched(self)
        answers.begin(str(group[0][1]) if kind == "array-file" else None)
        if kind == "files":
            names = [str(item) for _, item in group]
            score_decoded(batched, names, self.prepare_files(names), answers)
        elif kind == "pil":
            names = [f"[{position}]" for position, _ in group]
            decoded = prepare_pil_images([item for _, item in group], self.preparation, names)
            score_decoded(batched, names, decoded, answers)
        elif kind == "array-file":
            path = str(group[0][1])
            score_array_file(batched, Input(path, kind_of(path)), BatchSettings(batch_size=DEFAULT_BATCH), answers)
        elif kind == "skipped":
            answers.failed(group[0][1].source, group[0][1].error)
        else:
            position, array = group[0]
            try:
                answers.scored([f"[{position}]"], self.probabilities(_one_image(array, position)), [ARRAY_ROWS])
            except InputError as exc:
                answers.failed(f"[{position}]", str(exc))


class _Batched:
    """The Predictor's model as the engine calls it: in model calls of DEFAULT_BATCH images."""

    def __init__(self, predictor: Predictor):
        self.predict = predictor.probabilities


class _Answers:
    """The engine's rows as Predictions, in input order. An array file is scored whole or not at
    all: a file that fails after some of its rows were read (it shrank) leaves only its error."""

    def __init__(self, residuals: Callable[[int], list[float | None]], numbers: bool = False) -> None:
        self.predictions: list[Any] = []  # Predictions, or NumberPredictions for `numbers`
        self._array: tuple[str, int] | None = None  # the array file being read, and where its rows start
        self._residuals = residuals  # those of the next n scored images, in order
        self._numbers = numbers

    def begin(self, array_file: str | None) -> None:
        """A new run of inputs starts: an array file (its rows start here), or anything else."""
        self._array = None if array_file is None else (array_file, len(self.predictions))

    def scored(
        self,
        sources: Sequence[str],
        probabilities: np.ndarray,
        prepared: Sequence[str],
        counts: Sequence[int] | None = None,
    ) -> None:
        residuals = self._residuals(len(probabilities))
        if not self._numbers:
            self.predictions += [
                Prediction(s, int(p.argmax()), p, how, residual=r)
                for s, p, how, r in zip(sources, probabilities, prepared, residuals)
            ]
            return
        starts = digit_starts(counts if counts is not None else [1] * len(sources))
        for source, how, start, end in zip(sources, prepared, starts, starts[1:]):
            digits = probabilities[start:end].argmax(axis=1).tolist()
            label = "".join(map(str, digits))
            self.predictions.append(
                NumberPrediction(source, label, digits, probabilities[start:end], how, residuals=residuals[start:end])
            )

    def scored_array(self, path: str, start: int, probabilities: np.ndarray) -> None:
        self.scored(_row_names(path, start, len(probabilities)), probabilities, [ARRAY_ROWS] * len(probabilities))

    def failed(self, source: str, reason: str) -> None:
        if self._array is not None and self._array[0] == source:
            del self.predictions[self._array[1] :]
        if self._numbers:
            self.predictions.append(NumberPrediction(source, None, [], None, None, reason))
        else:
            self.predictions.append(Prediction(source, None, None, None, reason))


def _digit_pairs(prediction: Any) -> list[tuple[np.ndarray, float | None]]:
    """(probabilities, residual) of each digit a prediction scored: one for a Prediction, one per
    digit for a NumberPrediction, none for a failed one."""
    if prediction.probabilities is None:
        return []
    if isinstance(prediction, NumberPrediction):
        return list(zip(prediction.probabilities, prediction.residuals or [None] * len(prediction.digits)))
    return [(prediction.probabilities, prediction.residual)]


def _found(items: list) -> list[tuple[int, Any]]:
    """(position in `items`, item) with every path found as the command finds its arguments
    (discovery.py): a folder walked, and what cannot be read (nothing there, a FIFO, which would
    block a read forever, a dangling link) a `_Skipped` with the command's reason."""
    found: list[tuple[int, Any]] = []
    for position, item in enumerate(items):
        if not isinstance(item, (str, Path)):
            found.append((position, item))
            continue
        files, skipped = discover([str(item)])
        found += [(position, file.path) for file in files] + [(position, _Skipped(*s)) for s in skipped]
    return found


class _Skipped(NamedTuple):
    source: str
    error: str


def _runs(items: list[tuple[int, Any]]) -> list[tuple[str, list[tuple[int, Any]]]]:
    """Consecutive items of one kind: image files and PIL images in runs (prepared together), array
    files and in-memory arrays one by one."""
    runs: list[tuple[str, list[tuple[int, Any]]]] = []
    for position, item in items:
        kind = _kind(item)
        if runs and runs[-1][0] == kind and kind in ("files", "pil"):
            runs[-1][1].append((position, item))
        else:
            runs.append((kind, [(position, item)]))
    return runs


def _kind(item: Any) -> str:
    if isinstance(item, _Skipped):
        return "skipped"
    if isinstance(item, (str, Path)):
        return "files" if kind_of(Path(item).name) == "image" else "array-file"
    if _is_pil(item):
        return "pil"
    if isinstance(item, np.ndarray):
        return "array"
    raise InputError(f"cannot score a {type(item).__name__}: give image paths, PIL images or numpy arrays")


def _pixels(array: np.ndarray, what: str) -> np.ndarray:
    """An in-memory array as model-ready pixels (N, 784): one image (28, 28) or (784,), or many."""
    shape = array.shape
    if shape in (IMAGE_SHAPE, (NUM_PIXELS,)):
        array = array.reshape(1, NUM_PIXELS)
    elif not (len(shape) in (2, 3) and shape[1:] in (IMAGE_SHAPE, (NUM_PIXELS,))):
        raise InputError(f"{what} must have shape (28, 28), (N, 28, 28) or (N, 784), got {shape}")
    with input_errors(what):
        return preprocess(array)


def _one_image(array: np.ndarray, position: int) -> np.ndarray:
    """An array given as an item of a list, as model-ready pixels (1, 784): one image, so that the
    answers line up with the items. A batch in a list would be answered by one Prediction (its other
    images silently dropped), an empty one by none: both are that item's error."""
    pixels = _pixels(array, f"item {position}")
    if len(pixels) != 1:
        raise InputError(
            f"item {position} holds {len(pixels)} images, where a list takes one image per item: "
            "give an (N, 28, 28) array by itself, not in a list"
        )
    return pixels


def _count(array: np.ndarray) -> int:
    return 1 if array.shape in (IMAGE_SHAPE, (NUM_PIXELS,)) else len(array)


def _row_names(path: str, start: int, count: int) -> list[str]:
    return [f"{path}#{i}" for i in range(start, start + count)]


def _is_pil(item: Any) -> bool:
    # Pillow is imported by whoever made the image: a caller without it has none to give.
    image_module = sys.modules.get("PIL.Image")
    return image_module is not None and isinstance(item, image_module.Image)


def _iterable(images: Any) -> Iterable:
    try:
        return iter(images)
    except TypeError:
        raise InputError(f"cannot score a {type(images).__name__}: give image paths, PIL images or arrays") from None
