"""Where a predict run's rows go: a local file (writers.py: written under a temporary name and
renamed into place) or an object (s3://, objects.py: written locally, then uploaded in one piece),
with the errors file beside either."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...core.errors import OutputError
from ...core.files import atomic_path, write_csv
from .. import objects
from .names import error_rows
from .replaceable import check_file, check_object
from .spec import STDOUT, OutputSpec, errors_name, monitor_name
from .writers import PredictionWriter, errors_path, prediction_file, write_errors


@contextlib.contextmanager
def prediction_output(
    output: str | Path,
    spec: OutputSpec,
    failed: list[tuple[str, str]] | None = None,
    summary: dict[str, Any] | None = None,
) -> Iterator[PredictionWriter]:
    """A writer whose rows appear at `output` (a path or an s3:// URI) only when the block ends
    without error; at `-`, standard output, row by row as they are scored. `failed`, the inputs
    that could not be scored, and `summary`, the batch's monitoring summary (both filled by the
    block), go beside the output: the errors first, then the rows in place, then the summary (a
    rename on a local disk; an upload after the rows' for an object)."""
    if output == STDOUT:
        writer = PredictionWriter(sys.stdout.buffer, spec)
        yield writer
        writer.finish()
        sys.stdout.buffer.flush()
        return
    if not objects.is_object(output):
        # the summary is written under a temporary name and renamed just after the rows: a run whose
        # rows fail leaves no summary of rows that are not there
        with contextlib.ExitStack() as summary_staged, prediction_file(output, spec) as writer:
            yield writer
            if failed is not None:
                errors_beside(output, failed)
            if summary:
                staged = summary_staged.enter_context(atomic_path(summary_location(output)))
                staged.write_text(summary_text(summary), encoding="utf-8")
        return
    with objects.written_to(str(output)) as local:
        with prediction_file(local, spec) as writer:
            yield writer
        if failed is not None:
            errors_beside(output, failed)
    if summary:  # after the rows' upload, which may fail
        objects.write_bytes(str(summary_location(output)), summary_text(summary).encode())


def summary_location(output: str | Path) -> str | Path:
    """Where the batch's summary of a run into `output` goes: `p.monitor.json` beside `p.csv`."""
    if objects.is_object(output):
        folder, _, name = str(output).rpartition("/")
        return f"{folder}/{monitor_name(name)}"
    return Path(output).with_name(monitor_name(Path(output).name))


def summary_text(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=1) + "\n"


def object_errors_uri(output: str) -> str:
    """`s3://b/p/predictions.errors.csv` beside `s3://b/p/predictions.csv`."""
    folder, _, name = output.rpartition("/")
    return f"{folder}/{errors_name(name)}"


def errors_location(output: str | Path) -> str | Path | None:
    """Where the failed inputs of a run into `output` are listed: beside it (standard output has
    no beside: they are named on stderr only, job.py logs each)."""
    if output == STDOUT:
        return None
    return object_errors_uri(str(output)) if objects.is_object(output) else errors_path(output)


def errors_beside(output: str | Path, errors: Sequence[tuple[str, str]]) -> str | Path | None:
    """List the failed inputs beside the output (a stale list removed when nothing failed); where."""
    if output == STDOUT:
        return None
    if not objects.is_object(output):
        return write_errors(output, errors)
    uri = object_errors_uri(str(output))
    if not errors:
        if objects.list_objects(uri):
            objects.delete([uri])
        return None
    write_error_object(uri, errors)
    return uri


def write_error_object(uri: str, errors: Sequence[tuple[str, str]]) -> None:
    """The failed inputs as the errors CSV a local run writes, uploaded to `uri`."""
    with objects.written_to(uri) as local:
        write_csv(local, error_rows(errors))


def check_destination(output: str | Path, sources: Sequence[str], model: str | Path, *, fmt: str = "csv") -> None:
    """Refuse, before any work, an output that would replace an input or the model, that is not a
    regular file, or (an object) whose bucket is missing or may not be read."""
    if output == STDOUT:
        if fmt == "parquet":
            raise OutputError("--output - writes CSV or JSON Lines: Parquet needs a file (give FILE.parquet)")
        return
    if not objects.is_object(output):
        check_file(output, sources, model)
        return
    output = str(output)
    if output.endswith("/"):
        raise OutputError(f"{output}: a prefix (ending in /) takes shards, which --ray writes; give an object's URI")
    objects.check_bucket(output)
    check_object(output, sources, model)
