"""The one refuse-to-overwrite check of predict's outputs, for every destination: a file (and the
errors file beside it), an object, a shard folder and a shard prefix. Each runs before any input
is scored, and each refusal is one line ending in `refusing to replace it` (core/files.py's
`refusal`): an output may not replace an input, the model, a symbolic link, or anything predict
did not write."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ...core.files import check_replaceable, refusal
from .names import printable
from .spec import OURS, beside_names


def check_file(output: str | Path, sources: Sequence[str], model: str | Path) -> None:
    """A file output and the files beside it (errors, summary): each a new name or a regular file
    (not a link, a folder, a device, a FIFO) that is neither an input nor the model."""
    output = Path(output)
    protected: dict[tuple[int, int] | None, str] | None = None
    for path in (output, *(output.with_name(name) for name in beside_names(output.name))):
        check_replaceable(path)
        try:
            found = os.stat(path)
        except FileNotFoundError:
            continue
        if protected is None:  # one stat per input, and only when an output would be replaced
            protected = {_identity(s): f"an input ({s})" for s in sources}
            protected[_identity(model)] = f"the model {model}"
        what = protected.get((found.st_dev, found.st_ino))
        if what:
            raise refusal(path, f"is {printable(what)}")


def check_object(output: str, sources: Sequence[str], model: str | Path) -> None:
    """An object output (s3://...) and the objects beside it (errors, summary): neither an input nor the model."""
    folder, _, name = output.rpartition("/")
    for replaced in (output, *(f"{folder}/{beside}" for beside in beside_names(name))):
        if replaced == str(model):
            raise refusal(replaced, "is the model")
        if replaced in sources:
            raise refusal(replaced, "is one of the inputs")


def check_folder(output: Path, sources: Sequence[str]) -> None:
    """A shard folder: new, or a former one that holds only what predict writes and no input."""
    if not output.exists() and not output.is_symlink():
        return
    if not output.is_dir() or output.is_symlink():
        raise refusal(output, "exists and is not a folder", "an output folder must be a new or a former one")
    if Path.cwd().resolve().is_relative_to(output.resolve()):
        # replaced whole, it would leave this process and the shell in a deleted folder (EBUSY at a mount)
        raise refusal(output, "is the current folder or holds it", "give a new folder DIR/ for the output")
    if os.path.ismount(output):
        raise refusal(output, "is a mount point", "give a new folder inside it")
    # Ours: regular files with our names. A folder or link that merely has such a name is not.
    with os.scandir(output) as entries:
        strangers = sorted(e.name for e in entries if not (OURS.fullmatch(e.name) and e.is_file(follow_symlinks=False)))
    if strangers:
        raise refusal(output, f"holds {strangers[0]!r}, which predict did not write")
    inside = next((s for s in sources if Path(os.path.abspath(s)).is_relative_to(output.absolute())), None)
    if inside is not None:
        raise refusal(output, f"holds the input {inside}")


def check_prefix(prefix: str, former: Sequence[str], sources: Sequence[str]) -> None:
    """A shard prefix on an object store, whose objects are `former`: only what predict writes, no input."""
    strangers = [uri for uri in former if not OURS.fullmatch(uri[len(prefix) :])]
    if strangers:
        raise refusal(prefix, f"holds {strangers[0]}, which predict did not write")
    inside = next((source for source in sources if source.startswith(prefix)), None)
    if inside is not None:
        raise refusal(prefix, f"holds the input {inside}")


def _identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, or None for a path that cannot be stat'ed (nothing to protect)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino
