"""shards.py: an output folder of shards in input order, each a complete prediction file; built aside
and renamed into place, replacing only a former output folder."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mnist_ann.core.errors import OutputError
from mnist_ann.predict.cluster.actor import TaskRows
from mnist_ann.predict.cluster.task_shards import ShardTarget, task_summary
from mnist_ann.predict.outputs.shards import _replace, is_folder_output, shard_folder
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import PredictionWriter

SOURCES = [f"img{i}.png" for i in range(7)]
PROBABILITIES = np.random.default_rng(0).dirichlet(np.ones(10), size=7).astype(np.float32)
PREPARED = ["mnist/dark"] * 7


def _task_columns(sources, probabilities, errors=None) -> dict:
    """A task's rows as an actor returns them (TaskRows.columns)."""
    rows = TaskRows()
    rows.scored(list(sources), probabilities, ["mnist/dark"] * len(sources))
    for source, reason in errors or []:
        rows.failed(source, reason)
    return rows.columns("node-a")


def _run_tasks(record, tasks, fmt="csv"):
    """What the driver does with the summaries of tasks the workers ran and wrote."""
    target = ShardTarget(str(record.folder), OutputSpec(fmt, True))
    for number, columns in tasks:
        summary = task_summary(columns, "", number, target)
        if summary["shard"]:
            record.record(summary["shard"], summary["rows"])


def _single_file(fmt: str) -> bytes:
    buffer = io.BytesIO()
    single = PredictionWriter(buffer, OutputSpec(fmt, True))
    single.write(SOURCES, PROBABILITIES, PREPARED)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_each_task_writes_its_shard_and_they_concatenate_in_input_order(tmp_path, fmt):
    output = tmp_path / "results"
    with shard_folder(output, OutputSpec(fmt, True), []) as (record, errors):
        tasks = [(0, _task_columns(SOURCES[:3], PROBABILITIES[:3])), (1, _task_columns([], PROBABILITIES[:0]))]
        tasks.append((2, _task_columns(SOURCES[3:], PROBABILITIES[3:], errors=[("bad.png", "not an image")])))
        _run_tasks(record, tasks, fmt)
        errors.append(("bad.png", "not an image"))
    names = sorted(p.name for p in output.iterdir())
    assert names == ["_SUCCESS", "errors.csv", f"part-000000.{fmt}", f"part-000002.{fmt}"]  # a task with no rows: none
    single = _single_file(fmt).splitlines(keepends=True)
    header = single[:1] if fmt == "csv" else []
    shards = [output / f"part-00000{n}.{fmt}" for n in (0, 2)]
    rows = [line for shard in shards for line in shard.read_bytes().splitlines(keepends=True)[len(header) :]]
    assert rows == single[len(header) :]
    assert all(shard.read_bytes().splitlines(keepends=True)[: len(header)] == header for shard in shards)
    manifest = json.loads((output / "_SUCCESS").read_text())
    assert manifest == {
        "format": fmt,
        "rows": 7,
        "failed_inputs": 1,
        "shards": [{"name": f"part-000000.{fmt}", "rows": 3}, {"name": f"part-000002.{fmt}", "rows": 4}],
    }


def test_a_task_run_again_replaces_its_shard_and_strays_are_removed(tmp_path):
    """Ray runs a task again after its worker died: the same name, so no row twice; the dead
    worker's half-written temporary file is not part of the result."""
    output = tmp_path / "results"
    with shard_folder(output, OutputSpec("csv", True), []) as (record, _):
        target = ShardTarget(str(record.folder), OutputSpec("csv", True))
        task_summary(_task_columns(SOURCES[:3], PROBABILITIES[:3]), "", 0, target)  # the first attempt
        (record.folder / ".mnist-ann-999-0a1b.tmp.csv").write_bytes(b"source,label\nimg0.png,")  # killed mid-write
        _run_tasks(record, [(0, _task_columns(SOURCES[:3], PROBABILITIES[:3]))])  # the attempt that finished
    assert sorted(p.name for p in output.iterdir()) == ["_SUCCESS", "part-000000.csv"]
    assert len((output / "part-000000.csv").read_bytes().splitlines()) == 4


def test_a_folder_appears_whole_with_its_errors_and_replaces_a_former_one(tmp_path):
    output = tmp_path / "results"
    for run in range(2):
        with shard_folder(output, OutputSpec("csv", True), ["in.png"]) as (record, errors):
            _run_tasks(record, [(0, _task_columns(SOURCES[: 5 - run], PROBABILITIES[: 5 - run]))])
            assert not output.exists() or (
                run == 1 and len((output / "part-000000.csv").read_bytes().splitlines()) == 6
            )
            errors.append(("=bad.png", "not an image"))
        assert sorted(p.name for p in output.iterdir()) == ["_SUCCESS", "errors.csv", "part-000000.csv"]
    assert len((output / "part-000000.csv").read_bytes().splitlines()) == 5  # the second run's 4 rows
    assert (output / "errors.csv").read_text() == "source,error\n'=bad.png,not an image\n"  # spreadsheet-safe
    assert os.stat(output).st_mode & 0o077 == 0o777 & ~_umask() & 0o077  # not mkdtemp's private mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # nothing left beside it


def test_a_failed_job_leaves_the_former_folder_and_no_temporary_one(tmp_path):
    output = tmp_path / "results"
    with shard_folder(output, OutputSpec("csv", True), []) as (record, _):
        _run_tasks(record, [(0, _task_columns(SOURCES, PROBABILITIES))])
    before = (output / "part-000000.csv").read_bytes()
    with (
        pytest.raises(KeyboardInterrupt),
        shard_folder(output, OutputSpec("csv", True), []) as (record, _),
    ):
        _run_tasks(record, [(0, _task_columns(SOURCES[:1], PROBABILITIES[:1]))])
        raise KeyboardInterrupt
    assert (output / "part-000000.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_folder_that_is_not_a_former_output_is_never_replaced(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "holiday.jpg").write_bytes(b"precious")
    with (
        pytest.raises(OutputError, match=r"pictures: holds 'holiday.jpg', which predict did not write"),
        shard_folder(pictures, OutputSpec("csv", True), []),
    ):
        pass
    former = tmp_path / "former"
    former.mkdir()
    (former / "part-00000.csv").write_text("source\n")
    with (
        pytest.raises(OutputError, match=r"former: holds the input"),
        shard_folder(former, OutputSpec("csv", True), [str(former / "part-00000.csv")]),
    ):
        pass
    lookalike = tmp_path / "lookalike"
    (lookalike / "part-00000.csv").mkdir(parents=True)  # a folder with a shard's name, holding files
    (lookalike / "part-00000.csv" / "keep.txt").write_text("precious")
    with (
        pytest.raises(OutputError, match=r"lookalike: holds 'part-00000.csv', which predict did not write"),
        shard_folder(lookalike, OutputSpec("csv", True), []),
    ):
        pass
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(OutputError, match=r"file: exists and is not a folder"),
        shard_folder(tmp_path / "file", OutputSpec("csv", True), []),
    ):
        pass
    assert (pictures / "holiday.jpg").read_bytes() == b"precious" and (former / "part-00000.csv").exists()
    assert (lookalike / "part-00000.csv" / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "former", "lookalike", "pictures"]


def test_folder_outputs_are_named_with_a_slash_or_are_folders(tmp_path):
    assert is_folder_output(f"{tmp_path}/new/") and is_folder_output(tmp_path)
    assert not is_folder_output(tmp_path / "new") and not is_folder_output(tmp_path / "out.csv")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_current_folder_or_one_holding_it_or_a_mount_point_is_never_replaced(tmp_path, monkeypatch):
    """`--output "$PWD/"` replaced the folder the shell stood in (at a mount point: EBUSY after all
    the scoring, every row lost and a stray folder left)."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for output, reason in [
        (here, "is the current folder or holds it; refusing to replace it: give a new folder DIR/ for the output"),
        (tmp_path, "is the current folder or holds it; refusing to replace it: give a new folder DIR/ for the output"),
        (Path("/proc"), "is a mount point; refusing to replace it: give a new folder inside it"),
    ]:
        with pytest.raises(OutputError) as caught, shard_folder(output, OutputSpec("csv", True), []):
            pytest.fail("no work may start")
        assert str(caught.value) == f"{output}: {reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"] and list(here.iterdir()) == []


def test_a_replacement_that_fails_puts_the_former_folder_back(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "part-00000.csv").write_text("former rows\n")
    with pytest.raises(OutputError, match=r"out: cannot be replaced \(No such file or directory\); the former folder"):
        _replace(output, tmp_path / "never-built")  # the second move fails, after the first
    assert (output / "part-00000.csv").read_text() == "former rows\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left beside it
