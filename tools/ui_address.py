"""`make ui`'s first line: the address to open. With runs in the store, the pipeline's experiment in
its runs table, in the saved view the stages write (src/mnist_ann/tracking/views.py: what each run
changed, then its figures; written here too where a store from before it lacks it); before the first
`make repro`, the list of experiments. Always in the model-training view, which MLflow 3.17's UI
does not open by itself.

    python tools/ui_address.py --store sqlite:///$PWD/mlflow.db --port 5000"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

from mnist_ann.core.errors import MnistAnnError
from mnist_ann.tracking.bounds import store_problem
from mnist_ann.tracking.views import MODEL_TRAINING_VIEW, VIEW_NAME, ui_address
from mnist_ann.training.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="the UI's --backend-store-uri")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--params", default="params.yaml", help="where the experiment's name is")
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    try:
        experiment = load_params(args.params).mlflow.experiment_name
    except MnistAnnError as exc:  # params.yaml missing or wrong: the stages' own one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    store = urlparse(args.store)
    if store.scheme == "sqlite" and not Path(store.path).is_file():  # no runs yet; opening it would create it
        print(f"MLflow UI: open {base}/#/experiments?{MODEL_TRAINING_VIEW} (no runs yet: make repro records one)")
        return 0
    try:
        address = ui_address(base, args.store, experiment)
    except Exception as exc:  # whatever the store raises (SQLite, SQLAlchemy, MLflow): the UI could not read it either
        print(f"error: the MLflow store {args.store} cannot be read: {store_problem(exc)}", file=sys.stderr)
        return 1
    in_view = "viewStateShareKey" in address
    shown = f'the runs table, in the view "{VIEW_NAME}"' if in_view else "the Model training view"
    print(f"MLflow UI: open {address} ({shown})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
