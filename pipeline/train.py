"""train stage: fit the seed's ANN on the preprocessed arrays, validating on the test set each epoch,
and start the pipeline's MLflow run, tagged with the sha256 of the model file (evaluate and export
find it by that tag and reopen it). Writes the model, the per-epoch history (for `dvc plots`),
final metrics, and the accuracy and loss curves."""

from __future__ import annotations

from stage_start import start_stage

start_stage()  # first: Ctrl-C during the imports below exits 130, no traceback

import argparse
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict

import numpy as np

from mnist_ann.core.files import file_sha256, write_csv, write_json
from mnist_ann.core.process import run_main
from mnist_ann.core.terminal import progress_bar
from mnist_ann.tracking import TrackedRun, tracked_stage
from mnist_ann.tracking.tags import MODEL_SHA256
from mnist_ann.training.augment import Distortions, epoch_distorter
from mnist_ann.training.data import load_split
from mnist_ann.training.harness import stage, start_keras
from mnist_ann.training.params import Params, flatten

log = logging.getLogger("train")


def main(argv: Sequence[str] | None = None) -> None:
    paths = ("data", "model", "metrics", "history", "plots")
    with stage("train", __doc__, argv, paths) as harness:
        args, params = harness.args, harness.params
        splits = load_split(args.data, "train"), load_split(args.data, "test")
        with tracked_stage(params.mlflow.experiment_name, stage="train", run_name=harness.run_name()) as run:
            run.set_tags(harness.tags())
            run.log_params(flatten(params))
            model, epochs, fit_seconds = _fit(params, splits, run)
            harness.check_params_unchanged()  # before any output is written
            _write_outputs(args, run, model, epochs)
            run.log_metrics({"fit_seconds": fit_seconds})
            run.log_keras_model(model, splits[1][0][:5])
            run.set_tags({MODEL_SHA256: file_sha256(args.model)})  # last: a run with it trained the model whole
            harness.check_params_unchanged()  # again, inside the run: it is marked failed too
    log.info("trained in %.1f s: %s", fit_seconds, _format(_final(epochs)))


def _fit(params: Params, splits: tuple[tuple[np.ndarray, np.ndarray], ...], run: TrackedRun) -> tuple:
    """Build the seed's network and fit it on the (train, test) splits, validating on test and
    logging every epoch; returns the model, one row per epoch, and the seconds `fit` took."""
    start_keras()  # TensorFlow: imported once the params are known good
    from mnist_ann.training import model as ann

    train = params.train
    training, validation = splits
    ann.make_deterministic(params.seed)
    model = ann.build_model(
        hidden_units=train.hidden_units,
        activation=train.activation,
        optimizer=train.optimizer,
        learning_rate=train.learning_rate,
        loss=train.loss,
        lr_schedule=train.lr_schedule,
        total_steps=train.epochs * ann.steps_per_epoch(len(training[0]), train.batch_size),
    )
    report = [ann.EpochEnd(lambda m, epoch: log.info("epoch %d: %s", epoch, _format(m))), ann.EpochEnd(run.log_metrics)]
    started = time.perf_counter()
    with _epochs_shown(train.epochs) as advance:
        history = ann.fit(
            model,
            training,
            validation,
            batch_size=train.batch_size,
            epochs=train.epochs,
            validation_freq=train.validation_freq,
            callbacks=[*report, ann.EpochEnd(advance)],
            distort=epoch_distorter(Distortions(**asdict(train.augment)), params.seed),
            seed=params.seed,
        )
    return model, ann.epoch_table(history, train.validation_freq), time.perf_counter() - started


@contextlib.contextmanager
def _epochs_shown(epochs: int) -> Iterator[Callable[[dict, int], None]]:
    """A bar of the epochs, with the time left, on stderr when it is a terminal (`dvc repro` run
    from one), the epochs' log lines above it; yields what moves it on (nothing off a terminal)."""
    bar = progress_bar(epochs, "epoch", "training")
    if bar is None:
        yield lambda metrics, epoch: None
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with bar, logging_redirect_tqdm():
        yield lambda metrics, epoch: bar.update(1)


def _write_outputs(args: argparse.Namespace, run: TrackedRun, model, epochs: list[dict]) -> None:
    """The model, the per-epoch history, the final metrics and the seed's two curves; logged too."""
    from mnist_ann.training.model import save_model, summary
    from mnist_ann.training.plots import plot_curves

    save_model(model, args.model)
    write_csv(args.history, epochs)
    write_json(args.metrics, _final(epochs))
    for metric in ("accuracy", "loss"):
        plot_curves(epochs, metric, args.plots / f"{metric}.png")
        run.log_artifact(args.plots / f"{metric}.png", "plots")
    run.log_artifact(args.history)
    run.log_text(summary(model), "model_summary.txt")


def _final(epochs: list[dict]) -> dict:
    """The last epoch's metrics: what metrics/train.json holds and the stage's last line says."""
    return {name: value for name, value in epochs[-1].items() if value is not None}


def _format(metrics: dict) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if name != "epoch")


if __name__ == "__main__":
    run_main(main)
