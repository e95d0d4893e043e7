"""evaluate stage: score the trained model on the test set (loss, accuracy, per-digit precision and
recall, confusion matrix) and show a sample of predictions next to their labels, as the seed's
"model test" step did; then on fixed variants of the test set (moved, turned, scaled, bolder,
thinner, blurred, noisy digits, and photos of them on unevenly lit paper) and on a rendered set of
digits MNIST did not make. Logs everything into the pipeline's MLflow run."""

from __future__ import annotations

from stage_start import start_stage

start_stage()  # first: Ctrl-C during the imports below exits 130, no traceback

import argparse
import json
import logging
from collections.abc import Sequence

from mnist_ann.core.files import write_csv, write_json, write_text
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.process import run_main
from mnist_ann.tracking import tracked_stage
from mnist_ann.training.evaluation.scores import most_confident_mistakes, score
from mnist_ann.training.harness import stage, start_keras
from mnist_ann.training.lineage import train_record
from mnist_ann.training.params import Params
from mnist_ann.training.trained import load_trained

log = logging.getLogger("evaluate")
MISTAKES, MISTAKES_SHOWN = "mistakes.png", 24  # the model card's grid of its surest mistakes


def main(argv: Sequence[str] | None = None) -> None:
    paths = ("data", "model", "history", "metrics", "predictions", "robustness", "robustness_plot", "plots")
    with stage("evaluate", __doc__, argv, paths) as harness:
        _evaluate(harness.args, harness.params)


def _evaluate(args: argparse.Namespace, params: Params) -> None:
    start_keras()  # TensorFlow: imported once the params are known good
    trained = load_trained(args.data, args.model)
    from mnist_ann.training.evaluation.robustness import accuracies, as_digits
    from mnist_ann.training.model import predict_probabilities
    from mnist_ann.training.plots import plot_confusion, plot_predictions

    restore = train_record(params, args.params, args.history)  # used only where the store lacks train's run
    experiment, model_sha256 = params.mlflow.experiment_name, trained.model_sha256
    with tracked_stage(experiment, stage="evaluate", model_sha256=model_sha256, restore=restore) as run:
        y_test = trained.y_test
        probabilities = predict_probabilities(trained.model, trained.x_test)
        scores = score(probabilities, y_test)
        predicted = probabilities.argmax(axis=1)
        metrics = {"test_loss": scores["loss"], "test_accuracy": scores["accuracy"]}
        write_json(args.metrics, {**metrics, "precision": scores["precision"], "recall": scores["recall"]})
        write_csv(args.predictions, [{"actual": int(t), "predicted": int(p)} for t, p in zip(y_test, predicted)])

        sample = slice(0, params.evaluate.sample_size)
        sample_text = _sample_table(y_test[sample], predicted[sample])
        print(sample_text)
        plot_confusion(scores["confusion_matrix"], args.plots / "confusion_matrix.png")
        plot_predictions(trained.x_test[sample], y_test[sample], predicted[sample], args.plots / "predictions.png")
        write_text(args.plots / "predictions.txt", sample_text + "\n")
        mistakes = most_confident_mistakes(probabilities, y_test, MISTAKES_SHOWN)
        if len(mistakes):  # a model that makes none has no grid (and the card no such figure)
            sure = probabilities[mistakes].max(axis=1)
            title = f"most confident mistakes, predicted (true): confidence {sure[0]:.4f} to {sure[-1]:.4f}"
            plot_predictions(
                trained.x_test[mistakes], y_test[mistakes], predicted[mistakes], args.plots / MISTAKES, title=title
            )

        # digits not in MNIST's exact form: scored with the model already loaded, in seconds
        robust = accuracies(
            lambda digits: predict_probabilities(trained.model, preprocess(digits)), as_digits(trained.x_test), y_test
        )
        write_json(args.robustness, robust)
        write_csv(args.robustness_plot, [{"variant": name, "accuracy": value} for name, value in robust.items()])
        run.log_metrics({f"robust_{name}": value for name, value in robust.items()})

        run.log_metrics(metrics)
        run.log_metrics({f"{kind}_{digit}": v for kind in ("precision", "recall") for digit, v in scores[kind].items()})
        for name in ("confusion_matrix.png", "predictions.png", "predictions.txt", MISTAKES):
            if (args.plots / name).is_file():
                run.log_artifact(args.plots / name, "plots")
        run.log_text(json.dumps(scores["confusion_matrix"]), "confusion_matrix.json")
    log.info("test loss %.4f, test accuracy %.4f", scores["loss"], scores["accuracy"])
    log.info("robustness: %s", ", ".join(f"{name} {value:.4f}" for name, value in robust.items()))


def _sample_table(labels, predicted) -> str:
    """The seed printed the predicted and the true digits of one batch; the same, one row each."""
    mark = "".join(" " if p == t else "^" for p, t in zip(predicted, labels))
    return f"predicted: {''.join(map(str, predicted))}\ntrue:      {''.join(map(str, labels))}\nwrong:     {mark}"


if __name__ == "__main__":
    run_main(main)
