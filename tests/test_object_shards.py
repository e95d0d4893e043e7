"""object_shards.py on a real S3-compatible server: `_SUCCESS` is the one sign that a prefix is
whole. A former job's `_SUCCESS` goes first, its shards that no task wrote again go at the end,
`_SUCCESS` comes last; a failed job leaves none; a prefix holding anything else is refused."""

from __future__ import annotations

import json

import pytest

from mnist_ann.core.errors import OutputError
from mnist_ann.predict.outputs.shards import shard_folder
from mnist_ann.predict.outputs.spec import OutputSpec

PREFIX = "s3://preds-out/batch1/"


def test_a_job_replaces_a_former_ones_shards_and_writes_success_last(s3):
    for name in ("_SUCCESS", "part-000000.csv", "part-000007.csv", "errors.csv"):
        s3.put(PREFIX + name, b"former")
    with shard_folder(PREFIX, OutputSpec("csv", True), ["s3://digits-in/a.png"]) as (record, errors):
        assert "_SUCCESS" not in s3.keys(PREFIX)  # a reader now sees an unfinished folder
        s3.put(PREFIX + "part-000000.csv", b"source\nnew\n")  # as the task's worker uploads it
        record.record("part-000000.csv", 1)
        errors.append(("s3://digits-in/b.png", "not an image Pillow can read"))
    assert s3.keys(PREFIX) == ["batch1/_SUCCESS", "batch1/errors.csv", "batch1/part-000000.csv"]
    manifest = json.loads(s3.get(PREFIX + "_SUCCESS"))
    assert manifest == {
        "format": "csv",
        "rows": 1,
        "failed_inputs": 1,
        "shards": [{"name": "part-000000.csv", "rows": 1}],
    }
    assert s3.get(PREFIX + "errors.csv") == b"source,error\ns3://digits-in/b.png,not an image Pillow can read\n"
    assert s3.get(PREFIX + "part-000000.csv") == b"source\nnew\n"


def test_a_failed_job_leaves_no_success(s3):
    s3.put(PREFIX + "_SUCCESS", b"former")
    with pytest.raises(KeyboardInterrupt), shard_folder(PREFIX, OutputSpec("parquet", True), []) as (record, _):
        s3.put(PREFIX + "part-000000.parquet", b"half a job")
        record.record("part-000000.parquet", 3)
        raise KeyboardInterrupt
    assert "batch1/_SUCCESS" not in s3.keys(PREFIX)


@pytest.mark.parametrize("stranger", ["notes.txt", "sub/part-000001.csv", ".hidden"])
def test_a_prefix_holding_what_predict_did_not_write_is_refused(s3, stranger):
    s3.put(PREFIX + stranger, b"theirs")
    refused = pytest.raises(OutputError, match=f"holds {PREFIX}{stranger}, which predict did not write")
    with refused, shard_folder(PREFIX, OutputSpec("csv", True), []):
        pass
    assert s3.keys(PREFIX) == ["batch1/" + stranger]


def test_a_prefix_holding_an_input_is_refused(s3):
    refused = pytest.raises(OutputError, match="holds the input s3://preds-out/batch1/a.npy")
    with refused, shard_folder(PREFIX, OutputSpec("csv", True), ["s3://preds-out/batch1/a.npy"]):
        pass
