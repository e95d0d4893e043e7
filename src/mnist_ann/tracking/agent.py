"""The tracking agent: a process of its own that holds a stage's MLflow run. MLflow's import and the
store's opening cost a tracked stage about 4 s (measured on 2 cores: train 4.7 s, evaluate 4.1 s,
export 3.9 s with tracking on vs off), all of it on one core before the stage's own work; in the
agent they run on the other core while the stage imports TensorFlow. The stage (remote.py) sends
what to log; the agent runs the same tracked_stage and TrackedRun that an in-process stage would,
in the order sent.

Messages (wire.py): the stage's "start" -> "started" with the run id, or "error" with the one line
tracked_stage raised; then the calls; then "end" with the stage's outcome (ok, failed, interrupted),
which ends the run as tracked_stage ends it for that outcome. End of file without "end" is a stage
that died: its run ends as for an interrupted stage. Runs as `serve(FD)` (remote.py starts it) in
a process group of its own, so that Ctrl-C reaches the stage, which says how the run ends.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path

from .wire import array_from, receive, send


def serve(fd: int) -> None:
    """The agent's process: run on the socket `fd`, then exit without tearing MLflow (and Keras)
    down, which takes a second or two that the stage would wait for."""
    from ..entry import end_process

    main(fd)
    end_process(0)


def main(fd: int) -> None:
    from ..entry import configure_logging
    from ..errors import StageFailedError, TrackingError
    from .stage import tracked_stage

    configure_logging()
    connection = Connection(fd)
    start, _ = receive(connection)
    options = start["start"]
    restore = _restore(options.pop("restore_from"))
    preload_keras = options.pop("preload_keras")
    try:
        with tracked_stage(options.pop("experiment_name"), restore=restore, **options) as run:
            send(connection, {"started": run.run_id})
            if preload_keras:  # imported now, beside the stage's work, rather than when the model comes
                from .. import model  # noqa: F401
            outcome = _serve(connection, run)
            if outcome == "interrupted":
                raise KeyboardInterrupt
            if outcome == "failed":
                raise StageFailedError("the stage failed")
    except TrackingError as exc:
        send(connection, {"error": str(exc)})
    except (KeyboardInterrupt, StageFailedError):
        pass


def _restore(restore_from: list[str] | None):
    """train_record for the params and run-id files named, as the stage would have built it."""
    if restore_from is None:
        return None
    from ..lineage import train_record
    from ..params import load_params

    params_file, run_file = restore_from
    return train_record(load_params(params_file), params_file, run_file)


def _serve(connection: Connection, run) -> str:
    """Run the stage's calls on `run` until it ends; its outcome."""
    while True:
        try:
            header, blobs = receive(connection)
        except (EOFError, OSError):  # the stage died without saying how it ended
            return "interrupted"
        if "end" in header:
            return header["end"]
        call, args = header["call"], header["args"]
        if call == "log_keras_model":
            run.log_keras_model(Path(args[0]), array_from(blobs[0]))
        elif call == "log_onnx_model":
            import onnx

            examples = (array_from(blobs[1]), array_from(blobs[2]))
            run.log_onnx_model(onnx.load_from_string(blobs[0]), examples, *args)
        elif call in ("set_tags", "log_params", "log_metrics", "log_artifact", "log_text"):
            getattr(run, call)(*args)
