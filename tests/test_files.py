"""core/files.py: atomic writes are all or nothing at the destination, no temporary file outlives its
writer, a live process is told from a finished one, and the one guard before a read names what
would block or flood it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mnist_ann.core.files import (
    EMPTY_FILE,
    atomic_path,
    machine_tag,
    process_alive,
    temporary_name,
    unreadable_reason,
    write_text,
)


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
    here = machine_tag()
    orphan = tmp_path / f".mnist-ann-{dead_pid}-{here}-0a0b0c0d.tmp.txt"
    orphan.write_text("left by a SIGKILLed stage")
    live = tmp_path / f".mnist-ann-{os.getpid()}-{here}-0a0b0c0d.tmp.txt"
    live.write_text("being written by a live process")
    # Issue 37 (5): a writer in another container (or on another host) sharing the folder: its pid
    # means nothing here, and its live file was deleted, failing it after all its work
    other = ("1" if here[0] == "0" else "0") + here[1:]
    elsewhere = tmp_path / f".mnist-ann-{dead_pid}-{other}-0a0b0c0d.tmp.txt"
    elsewhere.write_text("being written in another container")
    write_text(tmp_path / "out.txt", "new")
    assert (tmp_path / "out.txt").read_text() == "new"
    assert not orphan.exists() and live.exists() and elsewhere.exists()
    assert temporary_name().startswith(f".mnist-ann-{os.getpid()}-{here}-")


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


def test_the_read_guard_names_what_would_block_flood_or_fail_a_read(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty").touch()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "big").write_bytes(b"x" * 2001)
    (tmp_path / "fine").write_bytes(b"x" * 2000)
    reasons = {
        name: unreadable_reason(tmp_path / name, 2000, "a test file")
        for name in ("fifo", "empty", "dangling", "gone", "big", "fine")
    }
    assert reasons == {
        "fifo": "a FIFO, not a regular file",
        "empty": EMPTY_FILE,
        "dangling": "dangling symbolic link",
        "gone": "no such file",
        "big": "2,001 bytes, over the 2,000-byte limit for a test file",
        "fine": None,
    }
    assert unreadable_reason(tmp_path) == "not a regular file"
    assert unreadable_reason("/dev/zero") == "not a regular file"  # a read that never ends
    assert unreadable_reason("/proc/self/status") == EMPTY_FILE  # no size the kernel knows
    assert unreadable_reason(tmp_path / "big") is None  # no limit unless asked for


def test_a_files_sha256_is_read_in_blocks_and_equals_hashlibs(tmp_path):
    import hashlib

    import numpy as np

    from mnist_ann.core.files import file_sha256

    data = np.random.default_rng(0).bytes((3 << 20) + 7)  # over three blocks
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
