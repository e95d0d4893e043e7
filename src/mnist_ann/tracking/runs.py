"""What a stage logs into its run: tags, params, metrics, artifacts and models. The `mlflow` module
is handed in by tracked_stage, which imported it; the model flavours are imported on first use."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any


class TrackedRun:
    """The MLflow run a stage logs into."""

    def __init__(self, mlflow: Any, run_id: str):
        self._mlflow = mlflow
        self.run_id = run_id

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._mlflow.set_tags(dict(tags))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Values that are not numbers or strings are logged as JSON (lists, the download sources)."""
        plain = {k: v if isinstance(v, (int, float, str)) else json.dumps(v) for k, v in params.items()}
        self._mlflow.log_params(plain)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._mlflow.log_artifact(str(path), artifact_path=folder)

    def log_text(self, text: str, file: str) -> None:
        self._mlflow.log_text(text, file)

    def log_keras_model(self, model: Any, input_example: Any) -> None:
        """The Keras model with its signature (inferred from `input_example` and its predictions)
        and pinned requirements (given, so MLflow does not spend seconds inferring them)."""
        import mlflow.tensorflow
        from mlflow.models import infer_signature

        signature = infer_signature(input_example, model.predict(input_example, verbose=0))
        mlflow.tensorflow.log_model(
            model,
            name="model",
            signature=signature,
            input_example=input_example,
            pip_requirements=_pins("tensorflow-cpu", "keras", "numpy"),
        )

    def log_onnx_model(self, proto: Any, input_example: Any, output_example: Any, registered_model: str) -> None:
        """The ONNX model, run on the CPU provider, with signature and input example, registered
        as a new version of `registered_model`. Saved inline: with external data, MLflow would
        rewrite the caller's proto."""
        import mlflow.onnx
        from mlflow.models import infer_signature

        mlflow.onnx.log_model(
            proto,
            name="onnx_model",
            signature=infer_signature(input_example, output_example),
            input_example=input_example,
            onnx_execution_providers=["CPUExecutionProvider"],
            save_as_external_data=False,
            registered_model_name=registered_model,
            pip_requirements=_pins("onnxruntime", "onnx", "numpy"),
        )


class UntrackedRun(TrackedRun):
    """Stands in for a run when tracking is off: every call does nothing."""

    def __init__(self):
        super().__init__(None, None)

    def set_tags(self, tags):
        pass

    def log_params(self, params):
        pass

    def log_metrics(self, metrics, step=None):
        pass

    def log_artifact(self, path, folder=None):
        pass

    def log_text(self, text, file):
        pass

    def log_keras_model(self, model, input_example):
        pass

    def log_onnx_model(self, proto, input_example, output_example, registered_model):
        pass


def _pins(*packages: str) -> list[str]:
    pins = []
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{package}=={metadata.version(package)}")
    return pins
