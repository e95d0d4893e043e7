"""An output folder for predict jobs too large for one file (`--output DIR/` with `--ray`): one shard
per task, part-000000.csv, part-000001.csv, ... (or .jsonl, .parquet), each with the columns and
header of a single output file, in input order, written by the Ray workers themselves
(cluster/task_shards.py); errors.csv when some inputs failed; monitor.json, the batch's summary
(monitor.py); and `_SUCCESS`, the manifest: the format, the shards with their rows, the total rows
and failed inputs. A reader checks `_SUCCESS`.

The folder is built under a temporary name beside it and renamed into place only when the job has
finished: a failed or interrupted job leaves the previous folder (or none) as it was. Anything in
it that no finished task recorded (the temporary file of a worker killed mid-write) is removed
first. An existing folder is replaced only when it holds nothing but what this module writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from ...core.errors import OutputError
from ...core.files import temporary_name, write_csv, write_json
from .. import objects
from .destinations import summary_text
from .names import error_rows
from .replaceable import check_folder
from .spec import ERRORS_NAME, MANIFEST_NAME, MONITOR_NAME, OutputSpec


def is_folder_output(output: str | Path) -> bool:
    """`--output` names a folder: it ends with a slash, or is a folder already."""
    return str(output).endswith(os.sep) or Path(output).is_dir()


class ShardRecord:
    """The shards a job's workers wrote into `folder`, in input order, with their rows; and the
    batch's summary, set once they are all in (written as monitor.json; none when left empty)."""

    def __init__(self, folder: Path | str, spec: OutputSpec):
        self.folder, self.spec = folder, spec
        self.shards: list[tuple[str, int]] = []
        self.rows = 0
        self.summary: dict = {}

    def record(self, name: str, rows: int) -> None:
        self.shards.append((name, rows))
        self.rows += rows

    def manifest(self, errors: int) -> dict:
        shards = [{"name": name, "rows": rows} for name, rows in self.shards]
        return {"format": self.spec.fmt, "rows": self.rows, "failed_inputs": errors, "shards": shards}


@contextlib.contextmanager
def shard_folder(
    output: str | Path, spec: OutputSpec, sources: Sequence[str]
) -> Iterator[tuple[ShardRecord, list[tuple[str, str]]]]:
    """(a record of the shards written into its folder, a list for the failed inputs): the shards,
    errors.csv and _SUCCESS appear at `output` only when the block ends without error. `sources`
    are the inputs: none may lie inside it."""
    if objects.is_object(output):
        from .object_shards import object_shard_folder  # which builds on this module

        with object_shard_folder(str(output), spec, sources) as folder:
            yield folder
        return
    output = Path(output)
    check_folder(output, sources)
    output.parent.mkdir(parents=True, exist_ok=True)
    building = output.parent / temporary_name()  # short: the output's own name may be as long as allowed
    building.mkdir()
    try:
        record, errors = ShardRecord(building, spec), list[tuple[str, str]]()
        yield record, errors
        recorded = {name for name, _ in record.shards}
        for stray in [entry for entry in building.iterdir() if entry.name not in recorded]:
            stray.unlink()  # a killed worker's temporary file; its task ran again under its own name
        if errors:
            write_csv(building / ERRORS_NAME, error_rows(errors))
        if record.summary:
            (building / MONITOR_NAME).write_text(summary_text(record.summary), encoding="utf-8")
        write_json(building / MANIFEST_NAME, record.manifest(len(errors)))  # last: what readers check
        _replace(output, building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


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
