"""`mnist-ann predict --ray`: the inputs, rows, order and errors of the single-machine run (job.py),
scored on a Ray cluster.

This process (the driver) finds the inputs and cuts them into tasks: 4096 image files, a range of an
uint8 array file's rows, or a whole other array file. Ray Data hands the tasks to an actor per CPU of
the cluster; each actor keeps one onnxruntime session, made from the model bytes that the driver puts
in Ray's object store once. Actors decode, prepare and score with the library's own functions
(actor.py). For one output file they return rows, which the driver writes in input order; for an
output folder each task writes its own shard there (task_shards.py) and returns only its summary. A
task whose actor dies is run again by Ray, and its rows are written once. Each task also returns what
its images looked like (a Watch's sums, monitor.py), which the driver merges into the batch's summary.

Inputs must be readable at the same path on every node (a shared folder), or objects of a store
(s3://). Ray is imported only through connection.py.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ...core.errors import MnistAnnError
from ...core.monitoring import Watch
from .. import objects
from ..errors import ClusterError, InputError, from_record
from ..inputs.arrays import ArrayInput
from ..inputs.discovery import Input
from ..inputs.images.pool import runs_by_kind
from ..inputs.images.preparation import several_marks
from ..inputs.object_arrays import object_array_ranges
from ..outputs.shards import ShardRecord
from ..scoring import Outcome
from ..settings import BatchSettings
from .actor import scorer_class
from .connection import connected
from .task_shards import ShardTarget, write_scored

log = logging.getLogger(__name__)

# Image files per task: a task costs Ray tens of milliseconds to hand out and collect, so tasks are
# far larger than the single-machine pool's (256); measured, 20k PNGs on a local cluster: 4096 per
# task took 19.4 s, 256 took 21.9 s (of which about 13 s are Ray's start either way).
IMAGES_PER_RAY_TASK = 4096
# Model calls per task of an array file's rows: each task costs the driver about 11 ms of CPU and the
# node its hand-off. Measured, 1M rows on two one-CPU nodes writing Parquet: 1 batch (8192 rows) a
# task gave 66,500 img/s per node and 3.2 s of driver CPU; 4 batches gave 76,000 and 2.2 s.
BATCHES_PER_ARRAY_TASK = 4


@dataclass
class ClusterOutcome(Outcome):
    images_by_node: Counter = field(default_factory=Counter)  # images scored on each Ray node


def plan_tasks(inputs: Sequence[Input], settings: BatchSettings) -> list[dict]:
    """The work, in input order, as tasks that an actor runs one at a time. An array file whose
    header is bad becomes a task that reports it, so its error keeps its place too."""
    tasks: list[dict] = []
    size = min(IMAGES_PER_RAY_TASK, settings.batch_size)
    for is_image, group in runs_by_kind(inputs):
        if is_image:
            paths = [item.path for item in group]
            tasks += [{"kind": "image", "paths": paths[n : n + size]} for n in range(0, len(paths), size)]
        else:
            for item in group:
                tasks += _array_tasks(item, settings)
    return tasks


def _array_tasks(item: Input, settings: BatchSettings) -> list[dict]:
    """A splittable file (uint8, read in place) in ranges of a batch; any other in one task, which
    checks the whole file before it scores any of it, as the single-machine run does."""
    whole = [{"kind": item.kind, "path": item.path}]
    step = settings.batch_size * BATCHES_PER_ARRAY_TASK  # scored a batch at a time by its actor
    if objects.is_object(item.path):
        try:
            return object_array_ranges(item.path, item.kind, step) or whole
        except InputError as exc:
            return [{"kind": "failed", "path": item.path, "reason": str(exc)}]
    if item.kind not in ("npy", "idx") or item.path.lower().endswith(".gz"):
        return whole  # an .npz member or a gzipped file is read whole by its actor
    try:
        array = ArrayInput(item, settings.npz_key)
    except InputError as exc:
        return [{"kind": "failed", "path": item.path, "reason": str(exc)}]
    if not array.splittable:
        return whole
    return [{**whole[0], "start": n, "stop": min(n + step, array.count)} for n in range(0, array.count, step)]


@dataclass(frozen=True)
class ClusterJob:
    """What every actor needs (the model, as bytes, and the settings), and where the cluster is."""

    model_bytes: bytes  # the .onnx file's bytes: put in Ray's object store once
    model_name: str  # what a model's error names: the user's file, as on one machine
    settings: BatchSettings
    address: str = "auto"  # auto: the cluster that $RAY_ADDRESS names, else a new local one


def score_on_ray(
    job: ClusterJob,
    inputs: Sequence[Input],
    writer,
    *,
    progress: Callable[[int], None] = lambda n: None,
    watch: Watch | None = None,
) -> ClusterOutcome:
    """Score `inputs` on the job's cluster, in input order: into `writer` (a PredictionWriter: rows
    come back to this process), or, for a ShardRecord (a folder), by the workers, each task writing
    its own shard into the folder and sending back its summary only. Every task's watch is merged
    into `watch` (the actors watch whenever the model carries a reference, as `watch_for` does here)."""
    settings = job.settings
    outcome, tasks = ClusterOutcome(), plan_tasks(inputs, settings)
    if not tasks:
        return outcome
    target = ShardTarget(str(writer.folder), writer.spec) if isinstance(writer, ShardRecord) else None
    with connected(job.address, settings.workers) as ray:
        scorer = scorer_class(ray.put(job.model_bytes), job.model_name, settings, target)
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
        items = [{"task": json.dumps({**task, "number": n})} for n, task in enumerate(tasks)]
        dataset = ray.data.from_items(items, override_num_blocks=len(tasks))
        results = dataset.map_batches(
            scorer, batch_size=1, num_cpus=1, compute=ray.data.ActorPoolStrategy(size=min(actors, len(tasks)))
        )
        try:
            for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
                done = _record_shards(batch, writer, outcome) if target else _write_batch(batch, writer, outcome)
                if watch is not None:
                    for sums in batch["watch"][batch["watch"] != ""]:
                        watch.merge_sums(json.loads(sums))
                progress(done)
        except (KeyboardInterrupt, MnistAnnError, OSError):
            raise
        except Exception as exc:  # Ray wraps a worker's error in its own classes
            raise _one_line(exc) from None
    return outcome


def _stop_if_asked(batch: dict) -> None:
    stopped = batch["stop"][batch["stop"] != ""]
    if len(stopped):  # an error that ends the job on one machine (the model's): the same error here
        raise from_record(json.loads(stopped[0]))


def _write_batch(batch: dict, writer, outcome: ClusterOutcome) -> int:
    """Rows sent back by a task, written here; how many inputs they account for."""
    _stop_if_asked(batch)
    failed = batch["error"] != ""
    for source, reason in zip(batch["source"][failed], batch["error"][failed]):
        outcome.fail(source, reason)
    scored = {name: column[~failed] for name, column in batch.items()}
    outcome.scored += write_scored(writer, scored)
    outcome.several += several_marks(scored["prepared"])
    outcome.images_by_node.update(scored["node"].tolist())
    return len(batch["source"])


def _record_shards(batch: dict, shards, outcome: ClusterOutcome) -> int:
    """Tasks' summaries: their shards, already written by the workers, recorded in input order."""
    _stop_if_asked(batch)
    accounted = 0
    outcome.several += int(batch["several"].sum())
    for shard, rows, errors, node in zip(batch["shard"], batch["rows"], batch["errors"], batch["node"]):
        for source, reason in json.loads(errors):
            outcome.fail(source, reason)
        if shard:
            shards.record(shard, int(rows))
        outcome.scored += int(rows)
        outcome.images_by_node[node] += int(rows)
        accounted += int(rows) + len(json.loads(errors))
    return accounted


# A line of a traceback that names an exception: "ValueError: ...", "onnxruntime...Fail: ..."
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Fail|Exit|Interrupt)\b")


def _one_line(exc: BaseException) -> ClusterError:
    """Ray's error as one line: the last exception its text names that is not Ray's own (a worker's
    traceback comes first, then Ray's wrappers and advice: "To change retry attempts, ...")."""
    lines = [_ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    causes = [line for line in lines if _EXCEPTION_LINE.match(line) and not line.startswith("ray.")]
    cause = causes[-1] if causes else lines[-1] if lines else type(exc).__name__
    return ClusterError(f"the Ray job failed: {cause}")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its worker names
