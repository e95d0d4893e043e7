"""remote_stage: tracked_stage run by a tracking agent (agent.py), a process beside the stage, so
that MLflow's import and the store's opening overlap the stage's own start instead of preceding it.
The stage's logging calls become messages, run by the agent in order; the stage waits for the run
to be open only where it must (wait_started: before training, before writing outputs), and for the
agent to end the run when the stage ends, so that the next stage finds it ended."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import TrackingError
from . import agent
from .runs import TrackedRun, first_line
from .stage import tracked_stage
from .store import tracking_enabled
from .wire import array_bytes, receive, send

log = logging.getLogger("mnist_ann.tracking")


@contextlib.contextmanager
def remote_stage(
    experiment_name: str,
    *,
    stage: str,
    run_id: str | None = None,
    run_name: str | None = None,
    restore_from: tuple[Path, Path] | None = None,
    preload_keras: bool = False,
) -> Iterator[TrackedRun]:
    """tracked_stage(experiment_name, stage=..., run_id=..., run_name=...) in an agent process.
    `restore_from` (params file, run-id file) is what train_record restores a run from;
    `preload_keras`: the stage will log a Keras model, so the agent imports Keras early."""
    if not tracking_enabled():
        with tracked_stage(experiment_name, stage=stage) as untracked:
            yield untracked
        return
    ours, theirs = socket.socketpair()
    with ours, theirs:
        # A process group of its own: Ctrl-C reaches the stage, which tells the agent how the run ends.
        serve = f"from {agent.__name__} import serve; serve({theirs.fileno()})"
        process = subprocess.Popen([sys.executable, "-c", serve], pass_fds=[theirs.fileno()], process_group=0)
        connection = Connection(ours.detach())
    start = {
        "experiment_name": experiment_name,
        "stage": stage,
        "run_id": run_id,
        "run_name": run_name,
        "restore_from": [str(path) for path in restore_from] if restore_from else None,
        "preload_keras": preload_keras,
    }
    run = RemoteRun(connection, process, stage)
    run.send({"start": start})
    try:
        yield run
    except KeyboardInterrupt:
        run.end("interrupted")
        raise
    except BaseException:
        run.end("failed")
        raise
    run.wait_started()  # a store that never opened fails the stage, as in-process
    run.end("ok")


class RemoteRun(TrackedRun):
    """The stage's side of a run held by the agent: calls are sent, not waited for."""

    def __init__(self, connection: Connection, process: subprocess.Popen, stage: str):
        super().__init__(None, None, stage)
        self._connection, self._process = connection, process
        self._started = False

    @property
    def run_id(self) -> str:
        self.wait_started()
        return self._run_id

    @run_id.setter
    def run_id(self, value: str | None) -> None:
        self._run_id = value

    def wait_started(self) -> None:
        """Return once the agent has the run open; TrackingError with tracked_stage's line if the
        store could not be opened."""
        if self._started:
            return
        try:
            header, _ = receive(self._connection)
        except (EOFError, OSError):
            raise TrackingError("MLflow tracking agent exited before opening the run") from None
        if "error" in header:
            self.failure = header["error"]  # nothing more is sent: the agent has gone
            raise TrackingError(header["error"])
        self._started, self._run_id = True, header["started"]

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._call("set_tags", [dict(tags)])

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._call("log_params", [dict(params)])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._call("log_metrics", [{k: float(v) for k, v in metrics.items()}, step])

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._call("log_artifact", [str(path), folder])

    def log_text(self, text: str, file: str) -> None:
        self._call("log_text", [text, file])

    def log_keras_model(self, model_file: Path, input_example: Any) -> None:
        self._call("log_keras_model", [str(model_file)], [array_bytes(input_example)])

    def log_onnx_model(self, proto, examples, registered_model: str, figures: Mapping[str, float]) -> None:
        blobs = [proto.SerializeToString(), *(array_bytes(example) for example in examples)]
        self._call("log_onnx_model", [registered_model, dict(figures)], blobs)

    def report_losses(self) -> None:
        pass  # the agent reports them, where they happened

    def send(self, header: dict[str, Any], blobs: list[bytes] = ()) -> None:
        if self.failure is not None:
            return
        try:
            send(self._connection, header, blobs)
        except OSError as exc:  # the agent died: the stage's work goes on without its record
            self.failure = first_line(exc)
            log.error("MLflow tracking agent is gone (%s); the stage goes on without tracking", self.failure)

    def end(self, outcome: str) -> None:
        """Tell the agent how the stage ended and wait until it has ended the run."""
        self.send({"end": outcome})
        self._connection.close()
        self._process.wait()

    def _call(self, call: str, args: list, blobs: list[bytes] = ()) -> None:
        self.send({"call": call, "args": args}, blobs)
