"""prefix_lease.py on a real S3-compatible server: one job at a time under an object prefix. A
second job is refused before any work and names the first; of two that start together, never both
go on; a dead job's lease is taken once stale; a job whose lease was taken publishes nothing; a
finished job leaves no lease."""

from __future__ import annotations

import threading
import time

import pytest

from mnist_ann.core.errors import OutputError
from mnist_ann.predict.outputs import prefix_lease
from mnist_ann.predict.outputs.prefix_lease import PrefixLease
from mnist_ann.predict.outputs.shards import shard_folder
from mnist_ann.predict.outputs.spec import OutputSpec

PREFIX = "s3://preds-out/batch1/"


def test_a_second_job_under_a_prefix_in_use_is_refused_and_names_the_first(s3):
    with PrefixLease(PREFIX) as first:
        refused = pytest.raises(OutputError, match=r"^s3://preds-out/batch1/: another predict job is writing here")
        with refused as caught, shard_folder(PREFIX, OutputSpec(), []):
            pytest.fail("a second job went on")
        assert f"job {first.job} on " in str(caught.value) and str(caught.value).endswith(
            "refusing to replace it: wait for that job to end, or give another prefix"
        )
        assert s3.keys(PREFIX) == [f"batch1/_running/{first.job}.json"]  # the refused job's lease is gone
    assert s3.keys(PREFIX) == []
    with shard_folder(PREFIX, OutputSpec(), []):  # free again
        pass
    assert s3.keys(PREFIX) == ["batch1/_SUCCESS"]


def test_of_two_jobs_that_start_together_never_both_go_on(s3):
    def job(barrier: threading.Barrier, went_on: list[int]) -> None:
        barrier.wait()
        try:
            with PrefixLease(PREFIX):
                went_on.append(1)
                time.sleep(1.0)  # held while the other tries
        except OutputError:
            pass

    for _ in range(5):
        barrier, went_on = threading.Barrier(2), list[int]()
        threads = [threading.Thread(target=job, args=(barrier, went_on)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(went_on) <= 1
        assert s3.keys(PREFIX) == []


def test_a_lease_is_renewed_while_its_job_runs_and_a_dead_jobs_is_taken_once_stale(s3, monkeypatch):
    monkeypatch.setattr(prefix_lease, "LEASE_TTL_S", 2.0)
    monkeypatch.setattr(prefix_lease, "LEASE_RENEW_S", 0.5)
    with PrefixLease(PREFIX):
        time.sleep(3.5)  # past the lease's time: renewed meanwhile, so still held
        with pytest.raises(OutputError, match="another predict job is writing here"), PrefixLease(PREFIX):
            pass
    s3.put(PREFIX + "_running/0123456789ab.json", b'{"job": "0123456789ab"}')  # a job killed outright
    time.sleep(3.5)  # the store's times have a second's resolution
    with PrefixLease(PREFIX) as taker:
        assert s3.keys(PREFIX) == [f"batch1/_running/{taker.job}.json"]


def test_a_job_whose_lease_was_taken_publishes_nothing(s3):
    taken = pytest.raises(OutputError, match="this job's lease was taken by another job")
    with taken, shard_folder(PREFIX, OutputSpec(), []) as (record, _):
        s3.put(PREFIX + "part-000000.csv", b"source\n")
        record.record("part-000000.csv", 0)
        (lease,) = [key for key in s3.keys(PREFIX) if "_running/" in key]
        s3.fs.delete_file("preds-out/" + lease)  # as a job that found it stale does
    assert "batch1/_SUCCESS" not in s3.keys(PREFIX)


@pytest.mark.heavy
def test_predict_under_a_prefix_another_job_holds_is_refused_before_any_work(s3, exported, tmp_path):
    """As a second `predict --ray` job would be, while the first writes: exit 1, one line naming the
    first job, nothing written, the first job's lease and shards untouched (and Ray never started)."""
    import json

    import numpy as np

    from helpers import font_digits, predict

    np.save(tmp_path / "d.npy", font_digits())
    about = {"job": "0123456789ab", "host": "node-7", "pid": 4242, "started": "2026-12-04 03:00:00 UTC"}
    s3.put(PREFIX + "_running/0123456789ab.json", json.dumps(about).encode())
    s3.put(PREFIX + "part-000000.csv", b"source\nthe first job's rows\n")
    result = predict("--model", exported[1], tmp_path / "d.npy", "--ray", "local", "--output", PREFIX)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: s3://preds-out/batch1/: another predict job is writing here (job 0123456789ab on node-7, pid "
        "4242, since 2026-12-04 03:00:00 UTC); refusing to replace it: wait for that job to end, or give "
        "another prefix"
    ]
    assert s3.keys(PREFIX) == ["batch1/_running/0123456789ab.json", "batch1/part-000000.csv"]
    assert s3.get(PREFIX + "part-000000.csv") == b"source\nthe first job's rows\n"
