"""evaluate stage: score the trained model on the test set (loss, accuracy, per-digit precision and
recall, confusion matrix) and show a sample of predictions next to their labels, as the seed's
"model test" step did. Logs everything into the pipeline's MLflow run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mnist_ann.atomic import write_csv, write_json, write_text
from mnist_ann.data import load_npy
from mnist_ann.entry import run, stage_parser
from mnist_ann.evaluation import score
from mnist_ann.model import load_model
from mnist_ann.params import load_params
from mnist_ann.plots import plot_confusion, plot_predictions
from mnist_ann.provenance import repo_root
from mnist_ann.tracking import pipeline_run

log = logging.getLogger("evaluate")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "data", "model", "run-file")
    parser.add_argument("--metrics", type=Path, required=True, help="JSON file for the test metrics")
    parser.add_argument("--predictions", type=Path, required=True, help="CSV of true and predicted digits")
    parser.add_argument("--plots", type=Path, required=True, help="folder for confusion_matrix.png and predictions.png")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    x_test, y_test = load_npy(args.data / "x_test.npy"), load_npy(args.data / "y_test.npy")
    run_id = json.loads(args.run_file.read_text())["run_id"]
    model = load_model(args.model)

    with pipeline_run(params.mlflow.experiment_name, repo_root(), run_id=run_id) as tracked:
        probabilities = model.predict(x_test, batch_size=4096, verbose=0)
        scores = score(probabilities, y_test)
        predicted = probabilities.argmax(axis=1)
        metrics = {"test_loss": scores["loss"], "test_accuracy": scores["accuracy"],
                   "precision": scores["precision"], "recall": scores["recall"]}
        write_json(args.metrics, metrics)
        write_csv(args.predictions, [{"actual": int(t), "predicted": int(p)} for t, p in zip(y_test, predicted)])

        sample = slice(0, params.evaluate.sample_size)
        sample_text = _sample_table(y_test[sample], predicted[sample])
        print(sample_text)
        plot_confusion(scores["confusion_matrix"], args.plots / "confusion_matrix.png")
        plot_predictions(x_test[sample], y_test[sample], predicted[sample], args.plots / "predictions.png")
        write_text(args.plots / "predictions.txt", sample_text + "\n")

        tracked.log_metrics({"test_loss": scores["loss"], "test_accuracy": scores["accuracy"]})
        tracked.log_metrics({f"{kind}_{digit}": value for kind in ("precision", "recall") for digit, value in scores[kind].items()})
        for name in ("confusion_matrix.png", "predictions.png", "predictions.txt"):
            tracked.log_artifact(args.plots / name, "plots")
        tracked.log_text(json.dumps(scores["confusion_matrix"]), "confusion_matrix.json")
    log.info("test loss %.4f, test accuracy %.4f", scores["loss"], scores["accuracy"])


def _sample_table(labels, predicted) -> str:
    """The seed printed the predicted and the true digits of one batch; the same, one row each."""
    mark = "".join(" " if p == t else "^" for p, t in zip(predicted, labels))
    return f"predicted: {''.join(map(str, predicted))}\ntrue:      {''.join(map(str, labels))}\nwrong:     {mark}"


if __name__ == "__main__":
    run(main)
