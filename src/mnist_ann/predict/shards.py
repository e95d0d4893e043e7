"""An output folder for predict jobs too large for one file (`--output DIR/` with `--ray`): shards
part-00000.csv, part-00001.csv, ... (or .jsonl, .parquet), each with the columns and header of a single output
file and at most ROWS_PER_SHARD rows, in input order, plus errors.csv when some inputs failed.

The folder is built under a temporary name beside it and renamed into place only when the job has
finished: a failed or interrupted job leaves the previous folder (or none) as it was. An existing
folder is replaced only when it holds nothing but what this module writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..atomic import temporary_name, write_csv
from ..errors import OutputError
from .names import error_rows
from .writers import PredictionWriter

ROWS_PER_SHARD = 100_000  # 1M images: ten ~16 MB CSV shards with probabilities
ERRORS_NAME = "errors.csv"
_OURS = re.compile(r"part-\d{5}\.(csv|jsonl|parquet)|errors\.csv")


def is_folder_output(output: str | Path) -> bool:
    """`--output` names a folder: it ends with a slash, or is a folder already."""
    return str(output).endswith(os.sep) or Path(output).is_dir()


class ShardWriter:
    """PredictionWriter's `write` and `write_array_rows`, spread over shard files of at most
    `rows_per_shard` rows."""

    def __init__(self, folder: Path, fmt: str, with_probabilities: bool, rows_per_shard: int = ROWS_PER_SHARD):
        self.folder, self.fmt, self.with_probabilities = folder, fmt, with_probabilities
        self.rows_per_shard = rows_per_shard
        self.shards = 0
        self.rows = 0
        self._file: BinaryIO | None = None
        self._writer: PredictionWriter | None = None

    def write(self, sources: Sequence[str], probabilities: np.ndarray, prepared: Sequence[str]) -> None:
        self._spread(
            len(sources), lambda part, lo, hi: part.write(sources[lo:hi], probabilities[lo:hi], prepared[lo:hi])
        )

    def write_array_rows(self, path: str, start: int, probabilities: np.ndarray) -> None:
        self._spread(
            len(probabilities), lambda part, lo, hi: part.write_array_rows(path, start + lo, probabilities[lo:hi])
        )

    def _spread(self, count: int, write_part: Callable[[PredictionWriter, int, int], None]) -> None:
        """Rows 0..count-1 of one call, shard by shard: `write_part(writer, lo, hi)` for each piece."""
        start = 0
        while start < count:
            if self._writer is None or self._writer.rows == self.rows_per_shard:
                self._next_shard()
            stop = start + min(count - start, self.rows_per_shard - self._writer.rows)
            write_part(self._writer, start, stop)
            self.rows += stop - start
            start = stop

    def _next_shard(self) -> None:
        self.close()
        self._file = open(self.folder / f"part-{self.shards:05d}.{self.fmt}", "wb", buffering=1 << 20)  # noqa: SIM115
        self._writer = PredictionWriter(self._file, self.fmt, self.with_probabilities)
        self.shards += 1

    def close(self) -> None:
        if self._file is not None:
            self._writer.finish()
            self._file.close()
            self._file = None


@contextlib.contextmanager
def shard_folder(
    output: str | Path, fmt: str, with_probabilities: bool, sources: Sequence[str]
) -> Iterator[tuple[ShardWriter, list[tuple[str, str]]]]:
    """(a writer, a list for the failed inputs) whose shards and errors.csv appear at `output`
    only when the block ends without error. `sources` are the inputs: none may lie inside it."""
    output = Path(output)
    _check_replaceable(output, sources)
    output.parent.mkdir(parents=True, exist_ok=True)
    building = output.parent / temporary_name()  # short: the output's own name may be as long as allowed
    building.mkdir()
    try:
        writer, errors = ShardWriter(building, fmt, with_probabilities), []
        try:
            yield writer, errors
        finally:
            writer.close()
        if errors:
            write_csv(building / ERRORS_NAME, error_rows(errors))
        _replace(output, building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _check_replaceable(output: Path, sources: Sequence[str]) -> None:
    if not output.exists():
        return
    if not output.is_dir() or output.is_symlink():
        raise OutputError(f"{output}: exists and is not a folder; an output folder must be a new or a former one")
    if Path.cwd().resolve().is_relative_to(output.resolve()):
        # replaced whole, it would leave this process and the shell in a deleted folder (EBUSY at a mount)
        raise OutputError(f"{output}: is the current folder or holds it; give a new folder DIR/ for the output")
    if os.path.ismount(output):
        raise OutputError(f"{output}: is a mount point, which cannot be replaced; give a new folder inside it")
    # Ours: regular files with our names. A folder or link that merely has such a name is not.
    with os.scandir(output) as entries:
        strangers = sorted(
            e.name for e in entries if not (_OURS.fullmatch(e.name) and e.is_file(follow_symlinks=False))
        )
    if strangers:
        raise OutputError(
            f"{output}: holds {strangers[0]!r}, which predict did not write; refusing to replace the folder"
        )
    inside = next((s for s in sources if Path(os.path.abspath(s)).is_relative_to(output.absolute())), None)
    if inside is not None:
        raise OutputError(f"{output}: holds the input {inside}; refusing to replace the folder")


def _replace(output: Path, built: Path) -> None:
    """Put `built` at `output`; a former output folder is moved aside first and then deleted. If
    either move fails, the former folder is put back and nothing is left beside it."""
    former = output.parent / temporary_name(kind="old") if output.exists() else None
    try:
        if former is not None:
            former.mkdir()
            os.replace(output, former / "folder")
        os.replace(built, output)
    except OSError as exc:
        if former is not None:
            with contextlib.suppress(OSError):
                os.replace(former / "folder", output)  # only where the first move was made
            with contextlib.suppress(OSError):
                former.rmdir()  # only when empty: never the former folder itself
        raise OutputError(f"{output}: cannot be replaced ({exc.strerror or exc}); the former folder is kept") from None
    if former is not None:
        shutil.rmtree(former, ignore_errors=True)
