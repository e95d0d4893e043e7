"""`predict --ray --output s3://bucket/prefix/`: the shard folder of shards.py on an object store.
A prefix cannot be renamed into place, so `_SUCCESS` alone says that the folder is whole: the job
first deletes a former job's `_SUCCESS` (readers then see an unfinished folder, never a mix of two
jobs), the workers upload their shards (each object whole or absent: objects.py), and at the end
the driver deletes former shards that no task of this job wrote, then writes errors.csv, monitor.json
and, last, `_SUCCESS`. A job that fails leaves the prefix without `_SUCCESS`; the next job under it replaces
what it holds. One job at a time: each holds a lease on the prefix while it writes (prefix_lease.py),
and a second job under a prefix in use is refused before any work."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence

from .. import objects
from .destinations import summary_text, write_error_object
from .prefix_lease import LEASES, PrefixLease
from .replaceable import check_prefix
from .shards import ShardRecord
from .spec import ERRORS_NAME, MANIFEST_NAME, MONITOR_NAME, OutputSpec


@contextlib.contextmanager
def object_shard_folder(
    prefix: str, spec: OutputSpec, sources: Sequence[str]
) -> Iterator[tuple[ShardRecord, list[tuple[str, str]]]]:
    """shards.shard_folder for an s3:// prefix: (the record of the shards the workers upload under
    it, a list for the failed inputs); `_SUCCESS` is written when the block ends without error."""
    prefix = prefix.rstrip("/") + "/"
    objects.check_bucket(prefix)
    former = [uri for uri, _ in objects.list_objects(prefix, hidden=True)]
    check_prefix(prefix, former, sources)
    with PrefixLease(prefix) as lease:
        former = [uri for uri in former if not uri.startswith(objects.join(prefix, LEASES))]
        manifest = objects.join(prefix, MANIFEST_NAME)
        if manifest in former:
            objects.delete([manifest])  # first: from now on a reader sees an unfinished folder
        record, errors = ShardRecord(prefix, spec), list[tuple[str, str]]()
        yield record, errors
        lease.check_held()
        written = {objects.join(prefix, name) for name, _ in record.shards}
        objects.delete([uri for uri in former if uri not in written and uri != manifest])
        if errors:
            write_error_object(objects.join(prefix, ERRORS_NAME), errors)
        if record.summary:
            objects.write_bytes(objects.join(prefix, MONITOR_NAME), summary_text(record.summary).encode())
        objects.write_bytes(manifest, (json.dumps(record.manifest(len(errors)), indent=2) + "\n").encode())
