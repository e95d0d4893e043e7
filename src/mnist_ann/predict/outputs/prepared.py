"""predict --save-prepared DIR: the 28x28 digit each image file was scored as, one PNG per file, so
that a user can see what the model saw (a digit cut in half by the framing, paper taken for ink).

The files go into a new folder beside DIR and the folder is renamed to DIR when the command ends
(exit 0 or 2): DIR appears whole or not at all, and a run that fails leaves none of it. Names come
from the inputs' paths, reduced to letters, digits, `.`, `_` and `-`, so that no input name can
reach outside DIR (`../`, an absolute path, a slash, a control character); each file is created
new (never through a link) inside the fresh folder."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath

import numpy as np

from ...core.errors import OutputError
from .number_rows import digit_starts

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120  # characters of a name before its suffix: within every file system's limit


def check_prepared_folder(folder: str | Path) -> None:
    """Refuse, before any work, a DIR that would lose files: one that exists and is not an empty
    folder."""
    path = Path(folder)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"--save-prepared {folder}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise OutputError(f"--save-prepared {folder}: the folder is not empty (nothing is overwritten)")


class PreparedFolder:
    """Where the prepared digits of one run are written, under names made from their sources."""

    def __init__(self, staging: Path):
        self.staging, self.taken = staging, set[str]()

    def save(self, sources: Sequence[str], digits: np.ndarray, counts: Sequence[int] | None = None) -> None:
        """One PNG per source; for numbers (`counts`: how many of `digits` are each source's, in
        order), one per digit, numbered left to right: `2024.jpg.1.png` ... `2024.jpg.4.png`."""
        if counts is None:
            self._write(zip(map(self._name, sources), digits))
            return
        starts = digit_starts(counts)
        for source, start, end in zip(sources, starts, starts[1:]):
            stem = _stem(source)
            self._write((self._unique(f"{stem}.{k}"), digits[i]) for k, i in enumerate(range(start, end), 1))

    def _write(self, named) -> None:
        from PIL import Image

        for name, digit in named:
            descriptor = os.open(self.staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(descriptor, "wb") as fp:
                Image.fromarray(digit, "L").save(fp, format="PNG")

    def _name(self, source: str) -> str:
        """The input's path as one safe file name (`scans/a/3.jpg` -> `scans_a_3.jpg.png`), with
        `-2`, `-3`, ... where two sources reduce to the same name."""
        return self._unique(_stem(source))

    def _unique(self, stem: str) -> str:
        name, count = f"{stem}.png", 1
        while name in self.taken:
            count += 1
            name = f"{stem}-{count}.png"
        self.taken.add(name)
        return name


def _stem(source: str) -> str:
    parts = [part for part in PurePath(source).parts if part not in ("/", ".", "..")]
    return UNSAFE.sub("_", "_".join(parts))[-MAX_NAME:].lstrip(".-_") or "image"


@contextlib.contextmanager
def prepared_folder(folder: str | Path | None) -> Iterator[PreparedFolder | None]:
    """The PreparedFolder of a run that asked for one (None otherwise), renamed to `folder` when
    the run ends without an exception, removed when it does not."""
    if folder is None:
        yield None
        return
    target = Path(folder)
    check_prepared_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield PreparedFolder(staging)
        check_prepared_folder(target)  # another process may have filled it meanwhile
        os.replace(staging, target)  # onto nothing, or onto an empty folder
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
