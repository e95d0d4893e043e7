"""One job at a time under an object prefix (`predict --ray --output s3://bucket/prefix/`).

A folder is built aside and renamed into place; a prefix cannot be. Two jobs under one prefix at
once therefore mixed their shards: both exited 0, and the prefix ended with the second job's
`_SUCCESS` beside shards of the first that no manifest listed. So a job holds a lease on its prefix
while it writes: an object of its own, `_running/<job>.json`, written before any work and rewritten
every LEASE_RENEW_S while the job runs.

A job writes its lease, then lists `_running/`. If another job's lease is fresh, it deletes its
own and is refused. Fresh means rewritten within LEASE_TTL_S of its own, by the store's clock: both
times are the objects' own. Each job writes before it lists, so of two jobs that start together at
least one sees the other: at most one goes on (both may be refused; never both let through). A
lease not rewritten for LEASE_TTL_S is a dead job's (SIGKILL, a lost machine): it is deleted and
the prefix taken. A job whose own lease was taken that way (it could not reach the store for that
long) fails at its end instead of publishing.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import secrets
import socket
import threading

from ...core.errors import OutputError
from ...core.files import refusal
from .. import objects

log = logging.getLogger("mnist-ann")

LEASES = "_running/"  # under the prefix: one object per job writing there
LEASE_TTL_S, LEASE_RENEW_S = 120.0, 30.0
_LEASE_BYTES = 4096  # what a lease may be when read to name its job


class PrefixLease:
    """This job's lease on `prefix`, taken on entering and given back on leaving."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.job = secrets.token_hex(6)
        self.uri = objects.join(prefix, f"{LEASES}{self.job}.json")
        started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        about = {"job": self.job, "host": socket.gethostname(), "pid": os.getpid(), "started": started}
        self._body = (json.dumps(about) + "\n").encode()
        self._stop = threading.Event()
        self._renewal = threading.Thread(target=self._renew, name="mnist-ann prefix lease", daemon=True)

    def __enter__(self) -> PrefixLease:
        objects.write_bytes(self.uri, self._body)
        try:
            self._take()
        except BaseException:
            self._give_back()
            raise
        self._renewal.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._renewal.is_alive():
            self._renewal.join(timeout=5)  # a rewrite under way must not land after the delete
        self._give_back()

    def check_held(self) -> None:
        """OutputError unless this job's lease is still there (another job took the prefix as this
        one's lease went stale): then nothing is published."""
        if self.uri not in dict(objects.modified(objects.join(self.prefix, LEASES))):
            raise OutputError(
                f"{self.prefix}: this job's lease was taken by another job (it was not renewed for "
                f"{LEASE_TTL_S:.0f} s: the store could not be reached); its shards are not published"
            )

    def _take(self) -> None:
        times = dict(objects.modified(objects.join(self.prefix, LEASES)))
        own = times.pop(self.uri, None)
        if own is None:  # written and not listed: a store that is not read-after-write consistent
            raise OutputError(f"{self.uri}: written and then not listed; the prefix cannot be leased")
        stale = [uri for uri, when in times.items() if (own - when).total_seconds() > LEASE_TTL_S]
        fresh = sorted(uri for uri in times if uri not in stale)
        if fresh:
            raise refusal(self.prefix, f"another predict job is writing here ({self._about(fresh[0])})", _WAIT)
        if stale:
            log.info(
                "%s: removing %d lease(s) not renewed for %.0f s (jobs that died)", self.prefix, len(stale), LEASE_TTL_S
            )
            objects.delete(stale)

    def _about(self, lease: str) -> str:
        """Who holds `lease`: its job, host, pid and start, as it says; its URI if it cannot be read."""
        try:
            about = json.loads(objects.read_whole(lease, _LEASE_BYTES).getvalue())
            return f"job {about['job']} on {about['host']}, pid {about['pid']}, since {about['started']}"
        except Exception:
            return f"its lease {lease}"

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_RENEW_S):
            try:
                objects.write_bytes(self.uri, self._body)
            except Exception as exc:
                log.warning("%s: the lease could not be renewed: %s", self.prefix, exc)

    def _give_back(self) -> None:
        with contextlib.suppress(Exception):  # best effort: a lease left behind goes stale
            objects.delete([self.uri])


_WAIT = "wait for that job to end, or give another prefix"
