"""shards.py: an output folder of shards in input order, each a complete prediction file; built aside
and renamed into place, replacing only a former output folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from mnist_ann.errors import OutputError
from mnist_ann.predict.shards import ShardWriter, _replace, is_folder_output, shard_folder
from mnist_ann.predict.writers import PredictionWriter

SOURCES = [f"img{i}.png" for i in range(7)]
PROBABILITIES = np.random.default_rng(0).dirichlet(np.ones(10), size=7).astype(np.float32)
PREPARED = ["mnist/dark"] * 7


def _single_file(fmt: str) -> bytes:
    buffer = io.BytesIO()
    single = PredictionWriter(buffer, fmt, True)
    single.write(SOURCES, PROBABILITIES, PREPARED)
    single.write_array_rows("a.npy", 8, PROBABILITIES[:4])
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_shards_split_the_rows_of_one_file_in_order(tmp_path, fmt):
    writer = ShardWriter(tmp_path, fmt, True, rows_per_shard=3)
    writer.write(SOURCES[:2], PROBABILITIES[:2], PREPARED[:2])  # a block that ends mid-shard
    writer.write(SOURCES[2:], PROBABILITIES[2:], PREPARED[2:])  # one that spans two shards
    writer.write_array_rows("a.npy", 8, PROBABILITIES[:4])  # array rows, named a.npy#8 to a.npy#11
    writer.close()
    shards = sorted(tmp_path.iterdir())
    assert [s.name for s in shards] == [f"part-0000{i}.{fmt}" for i in range(4)]
    single = _single_file(fmt).splitlines(keepends=True)
    header = single[:1] if fmt == "csv" else []
    rows = [line for shard in shards for line in shard.read_bytes().splitlines(keepends=True)[len(header) :]]
    assert rows == single[len(header) :]
    assert all(shard.read_bytes().splitlines(keepends=True)[: len(header)] == header for shard in shards)
    assert writer.rows == 11 and writer.shards == 4


def test_a_folder_appears_whole_with_its_errors_and_replaces_a_former_one(tmp_path):
    output = tmp_path / "results"
    for run in range(2):
        with shard_folder(output, "csv", True, ["in.png"]) as (writer, errors):
            writer.write(SOURCES[: 5 - run], PROBABILITIES[: 5 - run], PREPARED[: 5 - run])
            assert not output.exists() or (run == 1 and len((output / "part-00000.csv").read_bytes().splitlines()) == 6)
            errors.append(("=bad.png", "not an image"))
        assert sorted(p.name for p in output.iterdir()) == ["errors.csv", "part-00000.csv"]
    assert len((output / "part-00000.csv").read_bytes().splitlines()) == 5  # the second run's 4 rows
    assert (output / "errors.csv").read_text() == "source,error\n'=bad.png,not an image\n"  # spreadsheet-safe
    assert os.stat(output).st_mode & 0o077 == 0o777 & ~_umask() & 0o077  # not mkdtemp's private mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # nothing left beside it


def test_a_failed_job_leaves_the_former_folder_and_no_temporary_one(tmp_path):
    output = tmp_path / "results"
    with shard_folder(output, "csv", True, []) as (writer, _):
        writer.write(SOURCES, PROBABILITIES, PREPARED)
    before = (output / "part-00000.csv").read_bytes()
    with (
        pytest.raises(KeyboardInterrupt),
        shard_folder(output, "csv", True, []) as (writer, _),
    ):
        writer.write(SOURCES[:1], PROBABILITIES[:1], PREPARED[:1])
        raise KeyboardInterrupt
    assert (output / "part-00000.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_folder_that_is_not_a_former_output_is_never_replaced(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "holiday.jpg").write_bytes(b"precious")
    with (
        pytest.raises(OutputError, match=r"pictures: holds 'holiday.jpg', which predict did not write"),
        shard_folder(pictures, "csv", True, []),
    ):
        pass
    former = tmp_path / "former"
    former.mkdir()
    (former / "part-00000.csv").write_text("source\n")
    with (
        pytest.raises(OutputError, match=r"former: holds the input"),
        shard_folder(former, "csv", True, [str(former / "part-00000.csv")]),
    ):
        pass
    lookalike = tmp_path / "lookalike"
    (lookalike / "part-00000.csv").mkdir(parents=True)  # a folder with a shard's name, holding files
    (lookalike / "part-00000.csv" / "keep.txt").write_text("precious")
    with (
        pytest.raises(OutputError, match=r"lookalike: holds 'part-00000.csv', which predict did not write"),
        shard_folder(lookalike, "csv", True, []),
    ):
        pass
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(OutputError, match=r"file: exists and is not a folder"),
        shard_folder(tmp_path / "file", "csv", True, []),
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
        (here, "is the current folder or holds it; give a new folder DIR/ for the output"),
        (tmp_path, "is the current folder or holds it; give a new folder DIR/ for the output"),
        (Path("/proc"), "is a mount point, which cannot be replaced; give a new folder inside it"),
    ]:
        with pytest.raises(OutputError) as caught, shard_folder(output, "csv", True, []):
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
