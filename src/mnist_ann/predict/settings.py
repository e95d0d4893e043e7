"""How predict reads and scores its inputs: its options as one small value. Light on purpose (no
numpy), so that `mnist-ann --help` can show the defaults without importing the scoring code."""

from __future__ import annotations

from dataclasses import dataclass

from .inputs.images.preparation import Preparation

DEFAULT_BATCH = 8192  # images per model call: large enough for onnxruntime's threads, small for memory


@dataclass(frozen=True)
class BatchSettings:
    """How predict reads and scores its inputs (its command-line options)."""

    batch_size: int = DEFAULT_BATCH  # images per model call
    preparation: Preparation = Preparation()  # how image files become digits (background, framing)
    npz_key: str | None = None  # the array to read from .npz files; None: x, else x_test, else the only one
    workers: int = 1  # processes decoding image files
