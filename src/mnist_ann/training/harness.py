"""The stage harness: what every stage script does before and after its own work, in one order.

1. its arguments (`--params` and the paths dvc.yaml passes);
2. the parameter file's digest, taken before anything reads it;
3. its params, loaded and checked (a bad value fails before TensorFlow is imported);
4. the numerics pinned, so that whatever records how this process computes (the train run's
   `numerics` tag, the model card) records what it really runs with;
5. the stage's work, with the run name and tags of its MLflow run from here;
6. the digest again: a parameter file edited while the stage ran fails the stage, so that DVC records
   nothing (DVC reads params.yaml once the stage ends, and would record params the outputs were not
   made with).

Keras is started by the stages that use it (train, evaluate, export), once their params are known good.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.process import ArgumentParser
from .lineage import change_tags, run_name
from .numerics import pin_numerics
from .params import Params, load_params
from .params.yaml_file import check_params_unchanged, params_digest
from .provenance import provenance_tags


@dataclass(frozen=True)
class StageRun:
    """One run of a stage script: its arguments, its params, and the parameter file's digest."""

    name: str
    args: argparse.Namespace
    params: Params
    digest: str | None

    def check_params_unchanged(self) -> None:
        """ParamsError if the parameter file changed since the stage started (the harness checks at
        the end; a stage checks earlier too where it writes outputs it cannot take back)."""
        check_params_unchanged(self.args.params, self.digest)

    def run_name(self) -> str:
        """The name of the MLflow run this stage starts: the DVC experiment's, or the params changed."""
        return run_name(self.params, self.args.params)

    def tags(self) -> dict[str, str]:
        """The tags of the run this stage starts: where it comes from (provenance, numerics included,
        read after the harness pinned them) and what changed against the committed params."""
        return {**provenance_tags(), **change_tags(self.params, self.args.params)}


@contextlib.contextmanager
def stage(
    name: str,
    description: str | None,
    argv: Sequence[str] | None,
    shared: Sequence[str],
    *,
    own: Mapping[str, str] | None = None,
) -> Iterator[StageRun]:
    """Start stage `name` as the module docstring says (steps 1-4), yield it for its work, and check
    its parameter file again when the work is done (step 6)."""
    args = stage_arguments(description or name, argv, shared, own)
    digest = params_digest(args.params)  # first: an edit from here on is caught
    params = load_params(args.params)
    pin_numerics()
    yield StageRun(name, args, params, digest)
    check_params_unchanged(args.params, digest)


# What Keras imports at start only for features unused here, each behind an ImportError guard:
# scikit-learn wrappers (1.4 s), fitting on pandas frames (0.4 s), matplotlib's image gallery (0.6 s).
KERAS_EXTRAS = ("sklearn", "pandas", "matplotlib")


def start_keras() -> None:
    """Import Keras for an entry point that uses it (train, evaluate, export), once, where it first
    needs it: TensorFlow's C++ chatter (CPU feature notices, a tf.data message on every fit) turned
    off unless the user set TF_CPP_MIN_LOG_LEVEL, and Keras imported as if KERAS_EXTRAS were absent
    (a None in sys.modules fails their import), which is lifted at once: whatever else wants them
    (the plots, MLflow) imports them as usual. TensorFlow computes as numerics.PINNED says."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pin_numerics()  # the same bits on every CPU: set before TensorFlow loads, which reads them once
    blocked = [name for name in KERAS_EXTRAS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import keras  # noqa: F401
    finally:
        for name in blocked:
            del sys.modules[name]


# The paths that stages take by name, with one wording (dvc.yaml passes them all).
STAGE_PATHS = {
    "data": "folder of the preprocess stage's .npy files",
    "model": "the .keras model (the train stage's output)",
    "metrics": "JSON file for the stage's metrics",
    "history": "CSV of the per-epoch metrics (train writes it; evaluate and export restore a run's record from it)",
    "predictions": "CSV of the true and predicted test digits",
    "robustness": "JSON file for the accuracy on each variant of the test set (moved, turned, ...)",
    "robustness_plot": "CSV of the same figures, one row per variant, for `dvc plots`",
    "plots": "folder for the stage's figures",
}


def stage_arguments(
    description: str, argv: Sequence[str] | None, shared: Sequence[str], own: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Parse a stage script's arguments: `--params` (default params.yaml), the paths of STAGE_PATHS
    named in `shared`, and the stage's own paths, `own` mapping each name to its help. Every path
    is required (dvc.yaml names them all); `robustness_plot` is spelled `--robustness-plot`."""
    parser = ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameter file")
    for name, text in {**{name: STAGE_PATHS[name] for name in shared}, **(own or {})}.items():
        parser.add_argument("--" + name.replace("_", "-"), type=Path, required=True, help=text)
    return parser.parse_args(argv)
