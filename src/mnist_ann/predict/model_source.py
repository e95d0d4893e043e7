"""Which ONNX file a predict run scores with: a file as given, an MLflow model URI fetched from the
pipeline's store (mlflow is imported for URIs only), or by default the pipeline's export."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import ModelError

DEFAULT_MODEL = Path("models") / "model.onnx"  # the export stage's output, from the repository root
# its int8 model, where the int8 gate passed (core/onnx_model.py's INT8_NAME, spelled out: that module
# imports numpy, which `mnist-ann --help` must not, nor anything before cli.main sets BLAS's threads)
DEFAULT_INT8 = Path("models") / "int8" / "model.int8.onnx"
MODEL_URI_SCHEMES = ("models:/", "runs:/")  # MLflow's: models:/mnist-ann/3, models:/mnist-ann@champion, runs:/...
log = logging.getLogger(__name__)


def is_model_uri(model: str | Path) -> bool:
    return isinstance(model, str) and model.startswith(MODEL_URI_SCHEMES)


@contextlib.contextmanager
def model_file(model: str | Path | None, *, int8: bool = False) -> Iterator[Path]:
    """The .onnx file that `model` names (with `int8`, the int8 model of the pipeline's export or of
    a registered version), for the length of the block: a fetched model lives in a temporary folder
    that the block's end removes (onnxruntime reads a model whole, so a session made inside the
    block outlives it)."""
    if int8 and not (model is None or is_model_uri(model)):
        raise ModelError(
            f"--int8 picks the int8 model of the pipeline's export or of a registered version, not of {model}: "
            "to score an int8 file, name it with --model alone"
        )
    if model is None and int8:
        if not DEFAULT_INT8.is_file():
            raise ModelError(
                f"no model named and there is no {DEFAULT_INT8} here: run `dvc repro` (export writes it when the "
                "int8 model passes its gate; metrics/export.json says whether it did)"
            )
        yield DEFAULT_INT8
    elif model is None:
        if not DEFAULT_MODEL.is_file():
            raise ModelError(
                f"no model named and there is no {DEFAULT_MODEL} here: run `dvc repro`, or name one (--model)"
            )
        yield DEFAULT_MODEL
    elif is_model_uri(model):
        from ..tracking import repo_root
        from ..tracking.fetch import fetch_onnx_model

        log.info("fetching %s from the MLflow store", model)
        with tempfile.TemporaryDirectory(prefix="mnist-ann-model-") as fetched:
            yield fetch_onnx_model(str(model), repo_root(), Path(fetched), int8=int8)
    else:
        yield Path(model)
