"""Shards written by the workers of `predict --ray --output DIR/`, not by the driver: each task's
scored rows go to `part-<task number>.<format>` in the job's folder (which every node reaches at the
same path, as it does the inputs), written under a temporary name and renamed, so that a task Ray
runs again replaces its own shard instead of adding rows. The driver sees only each task's summary:
its shard, its rows, its failed inputs, its node. Task numbers follow input order, so do the names.

`write_scored` is also what the driver uses to write rows it collects (`--output FILE`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np

from ...core.mnist import NUM_CLASSES
from .. import objects
from ..inputs.images.preparation import several_marks
from ..outputs.destinations import prediction_output
from ..outputs.number_rows import digit_starts
from ..outputs.spec import OutputSpec


@dataclass(frozen=True)
class ShardTarget:
    """Where and how a job's workers write their shards."""

    folder: str
    spec: OutputSpec


def shard_name(number: int, fmt: str) -> str:
    return f"part-{number:06d}.{fmt}"  # a million tasks before the names stop sorting as numbers


def write_scored(writer, scored: dict) -> int:
    """The rows of `scored` (a task's columns, failed inputs left out) into `writer`: image rows by
    name, and each run of consecutive rows of one array file as one block. Returns the rows."""
    sources, indices = scored["source"], scored["index"]
    counts = scored.get("digits")  # rows of numbers: each row's digits' probabilities, flat
    if counts is not None:
        flat = [np.asarray(row, np.float32).reshape(-1, NUM_CLASSES) for row in scored["digit_probabilities"]]
        probabilities = np.concatenate(flat) if flat else np.zeros((0, NUM_CLASSES), np.float32)
        starts = digit_starts(counts)
    else:
        probabilities, starts = scored["probabilities"], list(range(len(sources) + 1))
    breaks = (indices[1:] != indices[:-1] + 1) | (sources[1:] != sources[:-1])
    breaks &= (indices[1:] >= 0) | (indices[:-1] >= 0)
    bounds = [0, *(np.flatnonzero(breaks) + 1).tolist(), len(sources)]
    for lo, hi in itertools.pairwise(bounds):
        if lo == hi:
            continue
        digits = probabilities[starts[lo] : starts[hi]]
        if indices[lo] < 0:
            numbers = None if counts is None else counts[lo:hi].tolist()
            writer.write(list(sources[lo:hi]), digits, list(scored["prepared"][lo:hi]), numbers)
        else:
            writer.write_array_rows(sources[lo], int(indices[lo]), digits)
    return len(sources)


def task_summary(columns: dict, stop: str, number: int, target: ShardTarget) -> dict:
    """Write the task's scored rows (`columns`: TaskRows.columns) as its shard; what the driver
    needs of it. A task that stops the job writes nothing."""
    failed = columns["error"] != ""
    scored = {name: column[~failed] for name, column in columns.items()}
    name = ""
    if len(scored["source"]) and not stop:
        name = shard_name(number, target.spec.fmt)
        with prediction_output(objects.join(target.folder, name), target.spec) as writer:
            write_scored(writer, scored)
    errors = [[str(s), str(r)] for s, r in zip(columns["source"][failed], columns["error"][failed])]
    several = several_marks(scored["prepared"])
    return {
        "shard": name,
        "rows": len(scored["source"]),
        "errors": json.dumps(errors),
        "stop": stop,
        "several": several,
    }
