"""The errors only the pipeline's stages raise; each carries one line that names what is wrong."""

from __future__ import annotations

from ..core.errors import MnistAnnError


class DownloadError(MnistAnnError):
    """Every configured data source failed; the message lists each source and why."""


class TrainingError(MnistAnnError):
    """Training that cannot give a usable model (the loss became NaN or infinite)."""


class ParityError(MnistAnnError):
    """The ONNX model does not give the Keras model's answers (the export stage's gate)."""
