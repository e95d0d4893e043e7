"""Atomic file writes, and the one guard before a file is read whole.

Writes: a reader (or DVC) sees the old file or the whole new one, never half of it.

Outputs are written to a temporary name in the destination's folder (same file system, so the final
rename is atomic) and renamed into place only once complete; on any error, Ctrl-C included, the
temporary file is removed and the destination is left untouched. Temporary names carry the
writer's pid and where that pid means something (`machine_tag`: the host and its pid namespace), so
that a later writer on the same machine can tell one a killed process left behind (`process_alive`),
and never takes a live writer's file in a folder that two containers or two hosts share for one.

Replacing: `check_replaceable` refuses, in one wording for every writer, a destination that a
rename would destroy or that is not what it seems (a symbolic link, a folder, a device).

Reads: `unreadable_reason` says why a path must not be opened and read (a FIFO blocks forever,
/dev/zero never ends, /proc/kmsg has no size and blocks, a huge file takes the memory), in one
wording for every reader: params, sources, models, users' images and arrays.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import os
import secrets
import socket
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .errors import OutputError


@contextlib.contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `destination`; rename it there when the block succeeds.

    The temporary name keeps the destination's suffix, for writers that insist on one (Keras, numpy).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(destination.parent)
    tmp = destination.with_name(temporary_name(destination.suffix))
    # O_EXCL: never clobber a file that happens to have the name; 0o666 minus the umask, like any new
    # file (mkstemp's 0o600 would survive the rename and hide outputs from other users).
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Temporary names are short whatever the destination's name: one of 250 characters, the most a
# file system takes, must not fail for its temporary name. They carry the writer's pid.
TEMPORARY_PREFIX = ".mnist-ann-"
_SUFFIX_KEPT = 16  # longer "suffixes" are parts of a name, not a format a writer insists on


def temporary_name(suffix: str = "", kind: str = "tmp") -> str:
    """A name for a file or folder being written, unique, short, with this process's pid and
    machine_tag in it."""
    kept = suffix if len(suffix) <= _SUFFIX_KEPT else ""
    return f"{TEMPORARY_PREFIX}{os.getpid()}-{machine_tag()}-{secrets.token_hex(4)}.{kind}{kept}"


@functools.cache
def machine_tag() -> str:
    """Where this process's pid names this process, as 6 hex digits: the host and its pid namespace
    (a container has its own). Two containers on one volume, or Ray nodes writing into a shared
    folder, each saw the other's live temporary file as a dead pid's and deleted it."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return hashlib.sha256(f"{socket.gethostname()}/{namespace}".encode()).hexdigest()[:6]


def _remove_orphans(folder: Path) -> None:
    """Delete temporary files that a killed writer (SIGKILL, power loss) left in `folder`."""
    for orphan in orphans(folder):
        if orphan.is_file():
            orphan.unlink(missing_ok=True)


def orphans(folder: str | Path) -> Iterator[Path]:
    """The temporary names in `folder` that a killed process (SIGKILL, power loss) left behind:
    they carry its pid and machine, the machine is this one, and that process is gone."""
    for orphan in Path(folder).glob(f"{TEMPORARY_PREFIX}*.tmp*"):
        pid, machine, *_ = [*orphan.name[len(TEMPORARY_PREFIX) :].split("-", 2), "", ""]
        if machine == machine_tag() and pid.isdigit() and not process_alive(int(pid)):
            yield orphan


REFUSING = "refusing to replace it"  # the end of every refusal to replace an output


def refusal(where: object, why: str, hint: str = "") -> OutputError:
    """The one-line refusal to replace `where`, because `why` (and what to do instead: `hint`)."""
    return OutputError(f"{where}: {why}; {REFUSING}" + (f": {hint}" if hint else ""))


def check_replaceable(destination: str | Path) -> None:
    """Refuse a destination that renaming a new file into place would wrongly replace: anything but
    a regular file (a folder, a device such as /dev/null, a FIFO) would be destroyed, and a symbolic
    link would become a plain file while its target kept the old content (as root, `--output
    /dev/stdout` replaced the system's link with a CSV)."""
    try:
        found = os.lstat(destination)
    except OSError:  # absent, or not reachable: the write itself says why
        return
    if stat.S_ISLNK(found.st_mode):
        raise refusal(destination, f"is a symbolic link (to {os.readlink(destination)})", "name the file itself")
    if not stat.S_ISREG(found.st_mode):
        raise refusal(destination, "exists and is not a regular file")


def write_bytes(destination: str | Path, data: bytes) -> None:
    """Write `data` to `destination` atomically."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)


def write_text(destination: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `destination` atomically."""
    with atomic_path(destination) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(destination: str | Path, value: object) -> None:
    """Write `value` as indented JSON, atomically."""
    write_text(destination, json.dumps(value, indent=2) + "\n")


def write_csv(destination: str | Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Write dict rows (the keys of the first row are the header; None is an empty cell), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(destination, buffer.getvalue())


# An empty file, or one whose size the kernel does not know (/proc/kmsg: a read blocks forever)
EMPTY_FILE = "empty file (0 bytes; files of /proc and the like are not read)"


def unreadable_reason(path: str | os.PathLike[str], max_bytes: int | None = None, limit_of: str = "") -> str | None:
    """Why `path` must not be read whole, or None: it is missing, not a regular file, empty or of
    no known size, or over `max_bytes` (named "the N-byte limit for `limit_of`"). The reason does
    not name the path: each reader puts it in its own one-line error."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return "dangling symbolic link" if os.path.islink(path) else "no such file"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return size_reason(found, max_bytes, limit_of)


def size_reason(found: os.stat_result, max_bytes: int | None = None, limit_of: str = "") -> str | None:
    """`unreadable_reason` for a file already stat'ed (or fstat'ed: an open descriptor cannot be
    swapped for a FIFO between the check and the read)."""
    if stat.S_ISFIFO(found.st_mode):
        return "a FIFO, not a regular file"
    if not stat.S_ISREG(found.st_mode):
        return "not a regular file"
    if found.st_size == 0:
        return EMPTY_FILE
    if max_bytes is not None and found.st_size > max_bytes:
        limit = f"the {max_bytes:,}-byte limit" + (f" for {limit_of}" if limit_of else "")
        return f"{found.st_size:,} bytes, over {limit}"
    return None


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while block := fp.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
