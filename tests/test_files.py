"""core/files.py: atomic writes are all or nothing at the destination, no temporary file outlives its
writer, and a live process is told from a finished one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mnist_ann.core.files import atomic_path, process_alive, write_text


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.heavy
def test_temp_files_of_dead_writers_are_removed(tmp_path):
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    orphan = tmp_path / f".mnist-ann-{dead_pid}-0a0b0c0d.tmp.txt"
    orphan.write_text("left by a SIGKILLed stage")
    live = tmp_path / f".mnist-ann-{os.getpid()}-0a0b0c0d.tmp.txt"
    live.write_text("being written by a live process")
    write_text(tmp_path / "out.txt", "new")
    assert (tmp_path / "out.txt").read_text() == "new"
    assert not orphan.exists() and live.exists()


def test_the_longest_name_a_file_system_takes_is_written_whatever_its_temporary_name(tmp_path):
    """Issue 26 (19): a valid 244-character output name was refused, its temporary name too long."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    for name in ("a" * (limit - 4) + ".csv", "b" * limit, "c." + "d" * (limit - 2)):
        write_text(tmp_path / name, "x")
        assert (tmp_path / name).read_text() == "x"
    assert sorted(len(p.name) for p in tmp_path.iterdir()) == [limit] * 3  # no temporary file left


def test_new_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644


@pytest.mark.heavy
def test_alive_and_dead_processes():
    assert process_alive(os.getpid())
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not process_alive(int(finished.stdout))
    assert process_alive(1)  # init: exists, whoever owns it
