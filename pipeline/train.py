"""train stage: fit the seed's ANN on the preprocessed arrays, validating on the test set each epoch,
and start the pipeline's MLflow run (evaluate and export reopen it). Writes the model, the run id,
the per-epoch history (for `dvc plots`), final metrics, and the accuracy and loss curves."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from mnist_ann import model as ann
from mnist_ann.atomic import write_csv, write_json
from mnist_ann.data import load_npy
from mnist_ann.entry import run, stage_parser
from mnist_ann.params import flatten, load_params
from mnist_ann.plots import plot_curves
from mnist_ann.provenance import provenance_tags, repo_root
from mnist_ann.tracking import pipeline_run

log = logging.getLogger("train")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "data")
    parser.add_argument("--model", type=Path, required=True, help="the .keras file to write")
    parser.add_argument("--run-file", type=Path, required=True, help="JSON file for the MLflow run id")
    parser.add_argument("--metrics", type=Path, required=True, help="JSON file for the final metrics")
    parser.add_argument("--history", type=Path, required=True, help="CSV file for the per-epoch metrics")
    parser.add_argument("--plots", type=Path, required=True, help="folder for accuracy.png and loss.png")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    train = params.train
    x_train, y_train, x_test, y_test = (load_npy(args.data / f"{name}.npy") for name in ("x_train", "y_train", "x_test", "y_test"))

    with pipeline_run(params.mlflow.experiment_name, repo_root(), run_name=os.environ.get("DVC_EXP_NAME")) as tracked:
        tracked.set_tags(provenance_tags())
        tracked.log_params(flatten(params))
        ann.make_deterministic(params.seed)
        model = ann.build_model(
            train.hidden_units, train.activation, train.optimizer, train.learning_rate, train.loss,
            lr_schedule=train.lr_schedule, total_steps=train.epochs * ann.steps_per_epoch(len(x_train), train.batch_size),
        )
        started = time.perf_counter()
        history = ann.fit(
            model, x_train, y_train, x_test, y_test,
            batch_size=train.batch_size, epochs=train.epochs, validation_freq=train.validation_freq,
            callbacks=[ann.EpochEnd(lambda metrics, epoch: log.info("epoch %d: %s", epoch, _format(metrics))),
                       ann.EpochEnd(tracked.log_metrics)],
        )
        fit_seconds = time.perf_counter() - started

        ann.save_model(model, args.model)
        table = ann.epoch_table(history, train.validation_freq)
        write_csv(args.history, table)
        final = {name: value for name, value in table[-1].items() if value is not None}
        write_json(args.metrics, final)
        for metric in ("accuracy", "loss"):
            plot_curves({k: [row[k] for row in table] for k in table[0]}, metric, args.plots / f"{metric}.png")
            tracked.log_artifact(args.plots / f"{metric}.png", "plots")
        tracked.log_artifact(args.history)
        tracked.log_metrics({"fit_seconds": fit_seconds})
        tracked.log_text(ann.summary(model), "model_summary.txt")
        tracked.log_keras_model(model, x_test[:5])
        write_json(args.run_file, {"run_id": tracked.run_id, "experiment": params.mlflow.experiment_name})
    log.info("trained in %.1f s: %s", fit_seconds, _format(final))


def _format(metrics: dict) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if name != "epoch")


if __name__ == "__main__":
    run(main)
