"""cluster/task_shards.py: what a worker writes for its task (a shard of the task's scored rows,
named by the task's number) and the summary it sends back instead of the rows."""

from __future__ import annotations

import io
import json

import numpy as np

from mnist_ann.predict.cluster.actor import TaskRows
from mnist_ann.predict.cluster.task_shards import ShardTarget, shard_name, task_summary, write_scored
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import PredictionWriter

PROBABILITIES = np.random.default_rng(5).dirichlet(np.ones(10), size=9).astype(np.float32)


def _mixed_rows() -> TaskRows:
    rows = TaskRows()
    rows.scored(["x.png", "y.png"], PROBABILITIES[:2], ["mnist/dark", "none/light"])
    rows.scored_array("a.npy", 4, PROBABILITIES[2:5])
    rows.failed("bad.npy", "not an array file")
    rows.scored_array("b.npy", 0, PROBABILITIES[5:9])
    return rows


def test_a_task_writes_its_scored_rows_as_runs_and_reports_its_failures(tmp_path):
    summary = task_summary(_mixed_rows().columns("node-a"), "", 12, ShardTarget(str(tmp_path), OutputSpec("csv", True)))
    assert summary == {
        "shard": "part-000012.csv",
        "rows": 9,
        "errors": json.dumps([["bad.npy", "not an array file"]]),
        "stop": "",
        "several": 0,  # pictures of several digit-sized marks (none here)
    }
    expected = io.BytesIO()
    writer = PredictionWriter(expected, OutputSpec("csv", True))
    writer.write(["x.png", "y.png"], PROBABILITIES[:2], ["mnist/dark", "none/light"])
    writer.write_array_rows("a.npy", 4, PROBABILITIES[2:5])
    writer.write_array_rows("b.npy", 0, PROBABILITIES[5:9])
    assert (tmp_path / "part-000012.csv").read_bytes() == expected.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-000012.csv"]  # no temporary file left


def test_a_task_that_stops_the_job_writes_nothing(tmp_path):
    summary = task_summary(
        _mixed_rows().columns("node-a"),
        '{"class": "ModelError"}',
        0,
        ShardTarget(str(tmp_path), OutputSpec("csv", True)),
    )
    assert summary["shard"] == "" and list(tmp_path.iterdir()) == []


def test_shard_names_sort_in_task_order():
    names = [shard_name(n, "parquet") for n in (0, 9, 10, 99999, 100000)]
    assert names == sorted(names) and names[0] == "part-000000.parquet"


def test_write_scored_counts_the_rows_it_wrote():
    columns = _mixed_rows().columns("node-a")
    scored = {name: column[columns["error"] == ""] for name, column in columns.items()}
    buffer = io.BytesIO()
    assert write_scored(PredictionWriter(buffer, OutputSpec("jsonl", False)), scored) == 9
    assert [json.loads(line)["source"] for line in buffer.getvalue().splitlines()][2:5] == [
        "a.npy#4",
        "a.npy#5",
        "a.npy#6",
    ]
