"""What `mnist-ann predict` reads: the files named on its command line and those found under the
folders it names (or objects, and the objects under prefixes: s3://, objects.py), each with the way
it is read. Whatever cannot be read is named with the reason, never silently passed over and never
the end of the run."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from ...core.files import unreadable_reason
from .. import objects

Skipped = tuple[str, str]  # (path, reason)
# The array files' names (lower case, less any .gz); everything else is read as an image file.
_ARRAY_NAME = re.compile(r"(?:\.(npy)|\.(npz)|(-ubyte|\.idx\d?))$")  # train-images-idx3-ubyte, x.idx3


class Input(NamedTuple):
    """One file to score: its path as found, and how it is read. A tuple, not a dataclass: a
    folder of 100k files makes 100k of them, at a third of a dataclass's cost each."""

    path: str
    kind: str  # "image", "npy", "npz" or "idx"


def kind_of(name: str) -> str:
    found = _ARRAY_NAME.search(name.lower().removesuffix(".gz"))
    if found is None:
        return "image"
    return "npy" if found[1] else "npz" if found[2] else "idx"


def discover(arguments: Sequence[str]) -> tuple[list[Input], list[Skipped]]:
    """Files named or found under folders (recursively, in name order; hidden files and folders in
    walked folders are passed over), and what was skipped with why: arguments that name nothing,
    folders that cannot be read, symbolic-link loops, dangling links, FIFOs and other non-files."""
    found: list[Input] = []
    skipped: list[Skipped] = []
    for argument in arguments:
        if objects.is_object(argument):
            found.extend(_listed(argument, skipped))
        elif os.path.isdir(argument):
            found.extend(_walk(argument, skipped, set()))
        elif os.path.isfile(argument):
            found.append(Input(argument, kind_of(os.path.basename(argument))))
        elif os.path.lexists(argument):
            skipped.append((argument, _not_a_file(argument)))
        else:
            skipped.append((argument, "no such file or folder"))
    return found, skipped


def _listed(uri: str, skipped: list[Skipped]) -> Iterator[Input]:
    """The objects `uri` names (one, or those under it as a prefix), listed with their sizes."""
    listed = objects.list_objects(uri)
    if not listed:
        skipped.append((uri, "no such object or prefix"))
    for name, _ in listed:  # an empty one is refused where it is read, in its place, as a file is
        if objects.has_empty_part(name):
            skipped.append((name, objects.EMPTY_PART_REASON.removesuffix("; refused")))
        else:
            yield Input(name, kind_of(name.rsplit("/", 1)[-1]))


def _walk(folder: str, skipped: list[Skipped], seen: set[tuple[int, int]]) -> Iterator[Input]:
    """The files under `folder`; `seen` holds the folders already walked, so that a symbolic link
    back up the tree is reported once instead of walked until the kernel refuses (ELOOP)."""
    try:
        found = os.stat(folder)
        identity = (found.st_dev, found.st_ino)
        if identity in seen:
            skipped.append((folder, "symbolic link loop: this folder is already being read"))
            return
        seen.add(identity)
        with os.scandir(folder) as entries:
            visible = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        skipped.append((folder, f"cannot read folder: {exc.strerror or exc}"))
        return
    for entry in visible:
        if entry.is_dir():
            yield from _walk(entry.path, skipped, seen)
        elif entry.is_file():
            yield Input(entry.path, kind_of(entry.name))
        else:
            skipped.append((entry.path, _not_a_file(entry.path)))


def _not_a_file(path: str) -> str:
    return unreadable_reason(path) or "not a regular file"
