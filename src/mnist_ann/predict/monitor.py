"""The batch summary of a predict run (core/monitoring.py): the model's reference read from its
file, every scored image watched on its way through the engine, and the summary described for
`<output>.monitor.json`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.files import file_sha256
from ..core.monitoring import METADATA_KEY, Reference, Watch
from ..core.onnx_model import OnnxModel
from .engine import submitted


class Watched:
    """A model whose every call is watched: the engine scores through it as through the model."""

    def __init__(self, model: Any, watch: Watch):
        self.model, self.watch = model, watch

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return self.submit(pixels)()

    def submit(self, pixels: np.ndarray) -> Callable[[], np.ndarray]:
        """The model's `submit` where it has one; the images are watched when their answer is taken,
        on the caller's thread, in the order the answers are taken."""
        answer = submitted(self.model, pixels)

        def watched() -> np.ndarray:
            probabilities = answer()
            self.watch.observe(pixels, probabilities)
            return probabilities

        return watched


NO_REFERENCE = "the model carries no monitoring reference (exported before batches were monitored, or elsewhere)"


def watch_for(model: OnnxModel) -> Watch | str:
    """A Watch with the model's reference; for a model without one (exported before batches were
    monitored, or not by this pipeline) or with one this version cannot read, why not, in words."""
    text = model.metadata.get(METADATA_KEY)
    if text is None:
        return NO_REFERENCE
    try:
        return Watch(Reference.from_json(text))
    except ValueError as exc:
        return str(exc)


def unmonitored(scored: int, model: dict[str, str], why: str) -> dict[str, Any]:
    """The summary of a batch that could not be monitored, saying why."""
    return {"images": scored, "model": model, "reference": None, "monitored": False, "why": why}


def model_description(model: OnnxModel, named: str | None) -> dict[str, str]:
    """Which model scored a batch: as the user named it (a file or a registry URI) and its file's sha256."""
    return {"named": named or str(model.path), "sha256": file_sha256(model.path)}
