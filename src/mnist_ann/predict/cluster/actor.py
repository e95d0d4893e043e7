"""What a Ray actor of `predict --ray` runs (driver.py is the driver): tasks of images or array rows,
decoded, prepared and scored through the engine that scores on one machine (engine.py), returned as
columns of rows. An input that fails becomes a row carrying its error, so that errors keep their place
in input order. Each task's images are watched for the batch summary (monitor.py) as on one machine;
the task's Watch sums travel back with its rows, and the driver merges them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.errors import MnistAnnError, first_line
from ...core.mnist import NUM_CLASSES
from ...core.monitoring import Reference, Watch
from ..engine import score_array_file, score_chunks, score_decoded
from ..errors import ClusterError, InputError, error_record
from ..inputs.arrays import ArrayInput
from ..inputs.discovery import Input
from ..inputs.images.decode import decode_images
from ..inputs.object_arrays import object_rows
from ..monitor import Watched, watch_for
from ..outputs.number_rows import digit_starts
from ..outputs.writers import ARRAY_ROWS
from ..settings import BatchSettings
from .task_shards import ShardTarget, task_summary


@dataclass
class TaskRows:
    """What an actor returns for its tasks: scored rows, and rows that carry an input's error. A row
    of an array file has the file as its source and its index (-1 for other rows): the driver then
    writes a run of them as one block (outputs/writers.py), not name by name. Rows of numbers
    (`numbers`, --digits many) carry each row's digits' probabilities instead (`digit_probabilities`,
    ten per digit, left to right) and their count (`digits`)."""

    numbers: bool = False
    sources: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    probabilities: list = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # each row's digits: 1, but for numbers
    prepared: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: str = ""  # the error that stops the whole job (errors.error_record as JSON), or nothing

    def scored(self, sources: Sequence[str], probabilities, prepared: Sequence[str], counts=None) -> None:
        self.sources += sources
        self.indices += [-1] * len(sources)
        self.probabilities.append(probabilities)
        self.counts += list(counts) if counts is not None else [1] * len(sources)
        self.prepared += prepared
        self.errors += [""] * len(sources)

    def scored_array(self, path: str, start: int, probabilities) -> None:
        self.scored([path] * len(probabilities), probabilities, [ARRAY_ROWS] * len(probabilities))
        self.indices[len(self.indices) - len(probabilities) :] = range(start, start + len(probabilities))

    def failed(self, source: str, reason: str) -> None:
        self.scored([source], np.zeros((1, NUM_CLASSES), np.float32), [""])
        self.errors[-1] = reason

    def columns(self, node: str) -> dict:
        empty = np.zeros((0, NUM_CLASSES), np.float32)
        probabilities = np.concatenate(self.probabilities) if self.probabilities else empty
        nodes = [node] * len(self.sources)
        stops = [self.stop] * len(self.sources)
        text = {"source": self.sources, "prepared": self.prepared, "error": self.errors, "node": nodes, "stop": stops}
        columns = {name: np.array(values, dtype=object) for name, values in text.items()}
        columns["index"] = np.array(self.indices, np.int64)
        if not self.numbers:
            return {**columns, "probabilities": probabilities}
        starts = digit_starts(self.counts)
        digits = np.empty(len(self.counts), dtype=object)  # a row's digits' probabilities, flat: ten per digit
        digits[:] = [probabilities[a:b].ravel() for a, b in itertools.pairwise(starts)]
        return {**columns, "digit_probabilities": digits, "digits": np.array(self.counts, np.int64)}


def run_task(task: dict, model, settings: BatchSettings, rows: TaskRows) -> None:
    """One task, on an actor: images decoded, prepared and scored; an array file (or a range of it)
    checked and scored; a failure found by the driver passed on."""
    if task["kind"] == "failed":
        rows.failed(task["path"], task["reason"])
    elif task["kind"] == "image":
        score_decoded(model, task["paths"], decode_images(task["paths"], settings.preparation), rows)
    elif "start" in task:
        _run_array_range(task, model, settings, rows)
    else:  # a whole array file, or an object (s3://) copied to this node whole
        score_array_file(model, Input(task["path"], task["kind"]), settings, rows)


def _run_array_range(task: dict, model, settings: BatchSettings, rows: TaskRows) -> None:
    """A range of an array file's rows (a mapped uint8 file, checked by the driver), or of an
    object's (object_arrays.py, read with ranged GETs), a batch at a time."""
    path, batch, stop = task["path"], settings.batch_size, task["stop"]
    try:
        if "offset" in task:
            score_chunks(model, path, object_rows(task, batch), rows)
            return
        array = ArrayInput(Input(path, task["kind"]), settings.npz_key)
        parts = ((n, array.rows(n, min(n + batch, stop))) for n in range(task["start"], stop, batch))
        score_chunks(model, path, parts, rows)
    except InputError as exc:
        rows.failed(path, str(exc))


def scored_batch(
    tasks: Sequence[str],
    model,
    settings: BatchSettings,
    node: str,
    *,
    target: ShardTarget | None = None,
    reference: Reference | None = None,
):
    """An actor's answer for its batch of tasks (JSON texts): their rows as columns, or, when the
    job writes a folder (`target`), one summary per task whose rows it wrote as the task's shard.
    With the model's monitoring `reference`, what the images looked like goes back with them: a
    Watch's sums as JSON, in the `watch` column (of the first row, for rows; "" without a reference)."""
    if target is None:
        watch = Watch(reference) if reference is not None else None
        rows = _run_tasks(tasks, model if watch is None else Watched(model, watch), settings, node)
        watches = [""] * len(rows.sources)
        if watch is not None and watches:
            watches[0] = json.dumps(watch.sums())
        return {**rows.columns(node), "watch": np.array(watches, dtype=object)}
    summaries = []
    for text in tasks:
        watch = Watch(reference) if reference is not None else None
        rows = _run_tasks([text], model if watch is None else Watched(model, watch), settings, node)
        summary = task_summary(rows.columns(node), rows.stop, json.loads(text)["number"], target)
        summaries.append({**summary, "watch": json.dumps(watch.sums()) if watch is not None else ""})
    names = ("shard", "errors", "stop", "watch")
    columns = {name: np.array([s[name] for s in summaries], dtype=object) for name in names}
    counts = {name: np.array([s[name] for s in summaries], np.int64) for name in ("rows", "several")}
    return {**columns, **counts, "node": np.array([node] * len(summaries), dtype=object)}


def _run_tasks(tasks: Sequence[str], model, settings: BatchSettings, node: str) -> TaskRows:
    """The tasks' rows. An error that stops the job is returned, not raised: Ray Data hands a
    raised one on as its own advice ("To change retry attempts, ..."), naming neither the input nor
    the cause. Any other exception (a bug, a node running another version of mnist-ann) stops the
    job too, by the input and cause."""
    rows, task = TaskRows(), {}
    try:
        for text in tasks:
            task = json.loads(text)
            rows.numbers = settings.preparation.numbers
            run_task(task, model, settings, rows)
    except MnistAnnError as exc:
        rows.failed("", "stopped")
        rows.stop = json.dumps(error_record(exc))
    except Exception as exc:
        rows.failed("", "stopped")
        where = f"{_task_input(task)}: {type(exc).__name__}: {first_line(exc)}"
        rows.stop = json.dumps(error_record(ClusterError(f"{where} (on the Ray worker of node {node[:12]})")))
    return rows


def _task_input(task: object) -> str:
    paths = (task.get("paths") or [task.get("path", "a task")]) if isinstance(task, dict) else ["a task"]
    return str(paths[0]) + (f" (and the {len(paths) - 1} more images of its task)" if len(paths) > 1 else "")


def scorer_class(model_bytes_ref, model_name: str, settings: BatchSettings, target: ShardTarget | None = None) -> type:
    """The actor class: built here so that the model's object reference, its name (for messages, as
    on one machine) and the settings travel with it (Ray Data starts the actors itself)."""

    class ClusterScorer:
        def __init__(self):
            import tempfile

            import ray

            from ...core.onnx_model import OnnxModel

            with tempfile.TemporaryDirectory(prefix="mnist-ann-model-") as folder:
                model_file = Path(folder) / "model.onnx"
                model_file.write_bytes(ray.get(model_bytes_ref))
                self.model = OnnxModel(model_file)  # read whole into the session
            self.model.path = Path(model_name)  # what a model's error names: the user's file
            found = watch_for(self.model)  # the driver read the same bytes: it watches when this does
            self.reference = found.reference if isinstance(found, Watch) else None
            self.node = ray.get_runtime_context().get_node_id()

        def __call__(self, batch: dict) -> dict:
            return scored_batch(batch["task"], self.model, settings, self.node, target=target, reference=self.reference)

    return ClusterScorer
