"""The seed's ANN in Keras 3: build it, train it deterministically, save and load it safely."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import keras  # the stages import it through harness.start_keras first: quieter, and 2.4 s sooner
import numpy as np
import tensorflow as tf

from ..core.errors import DataError, first_line
from ..core.files import atomic_path
from ..core.mnist import NUM_CLASSES, NUM_PIXELS
from .archives import make_reproducible
from .augment.stream import distorted_epochs
from .errors import TrainingError
from .params import OPTIMIZERS

SCORING_BATCH = 4096  # images per call scoring a split: no per-call overhead, activations in cache


def make_deterministic(seed: int) -> None:
    """Same seed, same machine => bit-identical weights: seeds Python, numpy and TF, and makes TF pick
    deterministic kernels (a little slower on some ops, none that this model uses heavily)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_model(
    *,
    hidden_units: Sequence[int],
    activation: str,
    optimizer: str,
    learning_rate: float,
    loss: str,
    lr_schedule: str = "constant",
    total_steps: int = 1,
) -> keras.Model:
    """The seed's network: Dense hidden layers, then a 10-way softmax; compiled with accuracy.

    `lr_schedule` "cosine" decays the learning rate from `learning_rate` to 0 over `total_steps`
    batches: the last epochs take small steps, which settles the weights (about +0.5% test accuracy
    at 20 epochs here) without touching the architecture.
    """
    model = keras.Sequential(
        [
            keras.Input(shape=(NUM_PIXELS,), name="pixels"),
            *[keras.layers.Dense(units, activation=activation) for units in hidden_units],
            keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="mnist_ann",
    )
    if lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    model.compile(
        optimizer=getattr(keras.optimizers, OPTIMIZERS[optimizer])(learning_rate=learning_rate),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return max(1, math.ceil(num_images / batch_size))


def targets(labels: np.ndarray, loss: str) -> np.ndarray:
    """Labels in the form `loss` expects: one-hot float32 for categorical cross-entropy (the seed's
    `tf.one_hot`), the digits themselves for the sparse variant."""
    if loss == "sparse_categorical_crossentropy":
        return labels.astype(np.int32)
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def fit(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    batch_size: int,
    epochs: int,
    validation_freq: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    distort: Callable[[np.ndarray, int, np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train on in-memory (images, labels) arrays (no per-image tf.data map), shuffled every epoch,
    validating every `validation_freq` epochs; returns the Keras history as plain lists.

    A whole epoch runs per call into TF (`steps_per_execution`): for a model this small the
    per-batch Python round trip costs more than the batch. The batches, their order and so the
    weights are the same as one step per call. The setting is for this fit only: the saved model
    keeps the default, so that predicting a few images later does not run hundreds of steps.

    `distort(images, epoch, order)`, when given, makes each epoch's training images (augment/)
    in the order of that epoch's shuffle, drawn from `seed` and the epoch.
    """
    (x_train, y_train), (x_val, y_val) = train, validation
    for what, (images, labels) in (("training", train), ("validation", validation)):
        if len(images) != len(labels):
            raise DataError(f"{what} set has {len(images)} images but {len(labels)} labels")
    loss = model.loss
    callbacks = [*callbacks, keras.callbacks.TerminateOnNaN()]
    settings = dict(batch_size=batch_size, shuffle=True, validation_freq=validation_freq, callbacks=callbacks)
    settings.update(validation_data=(x_val, targets(y_val, loss)), verbose=0)
    model.steps_per_execution = steps_per_epoch(len(x_train), batch_size)
    try:
        if distort is None:
            history = model.fit(x_train, targets(y_train, loss), epochs=epochs, **settings).history
        else:
            stream = distorted_epochs(
                x_train, targets(y_train, loss), epochs=epochs, batch_size=batch_size, distort=distort, seed=seed
            )
            settings.update(batch_size=None, shuffle=False, steps_per_epoch=model.steps_per_execution)
            history = model.fit(stream, epochs=epochs, **settings).history
    finally:
        model.steps_per_execution = 1
        model.train_function = model.test_function = model.predict_function = None  # rebuilt for 1 step
    losses = history["loss"]
    if not np.isfinite(losses).all():  # a NaN model would train to "success" and fail only at export
        epoch = next(i for i, value in enumerate(losses, 1) if not np.isfinite(value))
        raise TrainingError(
            f"training diverged: the loss became {losses[epoch - 1]} in epoch {epoch}; lower the learning rate"
        )
    return {name: [float(v) for v in values] for name, values in history.items()}


def epoch_table(history: dict[str, list[float]], validation_freq: int) -> list[dict[str, float | None]]:
    """One row per epoch (counted from 1) with every metric; Keras validates only every
    `validation_freq`-th epoch, so the other rows have None for the val_ metrics."""
    epochs = len(history["loss"])
    validated = [e for e in range(1, epochs + 1) if e % validation_freq == 0]
    rows: list[dict[str, float | None]] = [{"epoch": e} for e in range(1, epochs + 1)]
    for name, values in history.items():
        at = validated if name.startswith("val_") else range(1, epochs + 1)
        lookup = dict(zip(at, values))
        for epoch, row in enumerate(rows, 1):
            row[name] = lookup.get(epoch)
    return rows


class EpochEnd(keras.callbacks.Callback):
    """Calls `report(metrics, epoch)` after each epoch, epochs counted from 1 (as Keras prints them)."""

    def __init__(self, report: Callable[[dict[str, float], int], None]):
        super().__init__()
        self.report = report

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.report(dict(logs or {}), epoch + 1)


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save as a .keras file, atomically, its bytes a function of the weights and config alone."""
    with atomic_path(path) as tmp:
        model.save(tmp)
        make_reproducible(tmp)


def load_model(path: str | Path) -> keras.Model:
    """Load a .keras file in safe mode: a model carrying Python code (a Lambda layer) is refused."""
    from .archives import keras_config_problem
    from .params import MAX_WEIGHTS

    problem = keras_config_problem(path, MAX_WEIGHTS)  # before Keras builds (and allocates) anything
    if problem is not None:
        raise DataError(f"{path}: cannot load the Keras model: {problem}")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # a hostile config raises TypeError, AttributeError, TensorFlow's own kinds
        raise DataError(f"{path}: cannot load the Keras model: {type(exc).__name__}: {first_line(exc)}") from None


def predict_probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, 10) for model-ready images (N, 784), in batches of SCORING_BATCH."""
    return model.predict(images, batch_size=SCORING_BATCH, verbose=0)


def summary(model: keras.Model) -> str:
    """The text of `model.summary()`."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)
