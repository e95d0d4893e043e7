"""What a stage logs into its run: tags, params, metrics, artifacts and models. The `mlflow` module
is handed in by tracked_stage, which imported it; the model flavours are imported on first use.

A store that fails once the stage is under way (a server killed mid-training, mlflow.db locked or
moved away) must not cost the stage its work: the failure is logged once, everything after it is
skipped without waiting on the store again, and report_losses says at the end what the run lacks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from .bounds import store_problem, store_write
from .registry import OnnxVersion

log = logging.getLogger("mnist_ann.tracking")


class TrackedRun:
    """The MLflow run a stage logs into."""

    def __init__(self, mlflow: Any, run_id: str | None, stage: str | None = None):
        self._mlflow = mlflow
        self.run_id = run_id
        self.stage = stage
        self.failure: str | None = None  # the store's first error, once it failed
        self.lost: list[str] = []  # what could not be logged, in order

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._record("tags", self._mlflow.set_tags, dict(tags))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Numbers and strings as they are. A list of mappings (the download sources) as a param per
        entry, `download.sources.0`: `url=https://... sha256=731c...`, so that the UI's compare page
        shows each on a row of its own, not one JSON blob. Other values (lists) as JSON."""
        self._record("params", self._mlflow.log_params, _param_values(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        numbers = {k: float(v) for k, v in metrics.items()}
        self._record("metrics", self._mlflow.log_metrics, numbers, step=step)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._record(Path(path).name, self._mlflow.log_artifact, str(path), artifact_path=folder)

    def log_text(self, text: str, file: str) -> None:
        self._record(file, self._mlflow.log_text, text, file)

    def log_keras_model(self, model: Any, input_example: Any) -> None:
        self._record("the Keras model", self._log_keras_model, model, input_example)

    def log_onnx_model(self, version: OnnxVersion) -> None:
        """The ONNX model, registered as a new version that carries its figures and its run's
        commit and experiment."""
        self._record(f"the ONNX model and its {version.registered_model} version", self._log_onnx_model, version)

    def report_losses(self) -> None:
        """One line, if the store failed: what this run lacks and how to record it."""
        if self.failure is None:
            return
        lacking = ", ".join(dict.fromkeys(self.lost))
        log.error(
            "MLflow run %s lacks %s (%s); the stage's outputs are complete. To record them once the store "
            "works again: dvc repro --force -s %s",
            self.run_id,
            lacking,
            self.failure,
            self.stage or "<stage>",
        )

    def _record(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        """`call(*args, **kwargs)`, unless the store already failed; a failure is logged once."""
        if self.failure is not None:
            self.lost.append(what)
            return
        try:
            with store_write(self._mlflow):
                call(*args, **kwargs)
        except Exception as exc:  # whatever the store raises (HTTP, SQLite, file system): not the stage's fault
            self.failure = store_problem(exc)
            self.lost.append(what)
            log.error("MLflow tracking failed logging %s: %s; the stage goes on without it", what, self.failure)

    def _log_keras_model(self, model: Any, input_example: Any) -> None:
        """The Keras model in MLflow's Keras 3 flavour (`mlflow.keras.load_model` and
        `mlflow.pyfunc.load_model` both load it; the `tensorflow` flavour is Keras 2's and records
        TensorFlow's version as Keras's), with its signature (inferred from `input_example` and its
        predictions) and pinned requirements (given, so MLflow does not spend seconds inferring them).
        No input example: MLflow 3.17's Keras flavour writes it before it creates the model's folder
        and fails."""
        import mlflow.keras
        from mlflow.models import infer_signature

        signature = infer_signature(input_example, model.predict(input_example, verbose=0))
        mlflow.keras.log_model(
            model, name="model", signature=signature, pip_requirements=_pins("tensorflow-cpu", "keras", "numpy")
        )

    def _log_onnx_model(self, version: OnnxVersion) -> None:
        """With signature and input example. Saved inline: with external data, MLflow would rewrite
        the caller's proto."""
        import mlflow.onnx
        from mlflow.models import infer_signature

        from ..core.files import file_sha256
        from ..core.onnx_model import INT8_NAME
        from .fetch import INT8_FOLDER, ONNX_INT8_SHA256, ONNX_SHA256, onnx_sha256
        from .registry import CardRequest, describe_version, log_card
        from .versions import baseline_record

        input_example, output_example = version.examples
        registered_model, figures = version.registered_model, version.figures
        logged = mlflow.onnx.log_model(
            version.proto,
            name="onnx_model",
            signature=infer_signature(input_example, output_example),
            input_example=input_example,
            onnx_execution_providers=list(version.providers),
            save_as_external_data=False,
            registered_model_name=registered_model,
            pip_requirements=_pins("onnxruntime", "onnx", "numpy"),
        )
        client, number = self._mlflow.MlflowClient(), str(logged.registered_model_version)
        assert self.run_id is not None  # an UntrackedRun logs nothing
        # predict checks the file it fetches against this: a file replaced after registration is refused
        file_tags = {ONNX_SHA256: onnx_sha256(version.proto)}
        if version.int8 is not None:  # beside model.onnx, under its own name whatever the file's: a version brings both
            with tempfile.TemporaryDirectory(prefix="mnist-ann-int8-") as folder:
                named = Path(folder) / INT8_NAME
                shutil.copyfile(version.int8, named)
                client.log_model_artifact(logged.model_id, str(named), INT8_FOLDER)
            file_tags[ONNX_INT8_SHA256] = file_sha256(version.int8)
        client.set_logged_model_tags(logged.model_id, file_tags)
        cards = []
        if version.card:
            tags = client.get_run(self.run_id).data.tags
            request = CardRequest(number, self.run_id, tags, baseline_record(client, registered_model, number))
            cards = log_card(self._mlflow, number, version.card(request))
        describe_version(
            client, registered_model, number, run_id=self.run_id, figures=figures, cards=cards, file_tags=file_tags
        )
        if version.promotion is not None:
            from .champion import record_promotion

            record_promotion(client, registered_model, number, version.promotion)


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

    def log_onnx_model(self, version):
        pass


def _param_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` as MLflow's params: see TrackedRun.log_params."""
    plain: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, (int, float, str)):
            plain[name] = value
        elif isinstance(value, list) and value and all(isinstance(entry, Mapping) for entry in value):
            for number, entry in enumerate(value):  # numbered as params.yaml's errors number them
                plain[f"{name}.{number}"] = " ".join(f"{key}={item}" for key, item in entry.items())
        else:
            plain[name] = json.dumps(value)
    return plain


def _pins(*packages: str) -> list[str]:
    pins = []
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{package}=={metadata.version(package)}")
    return pins
