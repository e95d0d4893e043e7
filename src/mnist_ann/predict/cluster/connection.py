"""The driver's connection to Ray: a cluster joined by address, or a local one started and stopped
around one `mnist-ann predict --ray` run, with the driver keeping control of Ctrl-C and SIGTERM.
The driver imports Ray here only (actor.py's actors run inside Ray)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from typing import Any

from ..errors import ClusterError

# A local cluster's shared memory: rows stream through it a task at a time (a task's result is ~1 MB),
# so this is ample, and it leaves the rest of a small machine's memory alone.
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20
CONNECT_TIMEOUT_S = 10
LOOPBACK = "127.0.0.1"  # where a cluster started for one command listens: no other machine needs it


@contextlib.contextmanager
def connected(address: str, cpus: int) -> Iterator:
    """Ray, joined to the cluster or started locally (capped at `cpus` and a small object store,
    no dashboard, no usage statistics); disconnected (a local one stopped) on leaving. A process
    already connected (a test's cluster) keeps its connection."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # C++ notices would land on our stderr
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # rows in input order, as on one machine
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    if ray.is_initialized():
        yield ray
        return
    join = os.environ.get("RAY_ADDRESS") if address == "auto" else address
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if join:
            _check_reachable(join)
            ray.init(address=join, **quiet)
        else:
            local: dict[str, Any] = {
                "num_cpus": cpus,
                "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
                "include_dashboard": False,
            }
            with _local_daemons_in_a_session_of_their_own(), _on_loopback():
                ray.init(address="local", _node_ip_address=LOOPBACK, **local, **quiet)
    except ClusterError:
        raise
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError, TimeoutError, by cause
        raise ClusterError(f"cannot {'join the Ray cluster at ' + join if join else 'start Ray'}: {exc}") from None
    finally:
        # Ray's start installs a SIGTERM handler that aborts the process (leaving temporary files):
        # Ctrl-C, SIGTERM and SIGHUP stay ours (core/process.py).
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _local_daemons_in_a_session_of_their_own() -> Iterator[None]:
    """Ray starts a local cluster's daemons (GCS, raylet, monitors) in the caller's process group.
    Ray blocks SIGINT in them, but a SIGTERM to the group (`timeout`, `kill -- -PGID`) kills the
    raylet as it reaches us, and the driver's Ray core then ends this process itself (exit 1, no
    word, the temporary output left behind) before our handler has run: measured, 4 runs in 22.
    In a session of their own only this process gets the group's signals, and it stops them as on
    any exit. They still die with it if it is killed outright: Ray sets their parent-death signal.

    Ray has no option for this: its one process-starting call (`services.ConsolePopen`, a Popen) is
    wrapped while the cluster starts. Ray's actors already make process groups of their own."""
    from ray._private import services

    original: Any = services.ConsolePopen

    class PopenInNewSession(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, start_new_session=True)

    services.ConsolePopen = PopenInNewSession  # type: ignore[misc]  # Ray's class, swapped while it starts
    try:
        yield
    finally:
        services.ConsolePopen = original  # type: ignore[misc]


@contextlib.contextmanager
def _on_loopback() -> Iterator[None]:
    """A cluster started for one command serves only this machine, yet Ray's daemons, workers and
    driver listened on every interface (`*:port`), reachable from the network while it ran. Given
    127.0.0.1 as the node's address they listen there alone, but Ray replaces a loopback address
    with the machine's reachable one (services.resolve_ip_for_localhost): that replacement is
    turned off while the cluster starts."""
    from ray._private import services

    original = services.resolve_ip_for_localhost
    services.resolve_ip_for_localhost = lambda host: host
    try:
        yield
    finally:
        services.resolve_ip_for_localhost = original


def _check_reachable(address: str) -> None:
    """Ray retries an unreachable head for many minutes, silently: a host:port that refuses or does
    not answer within CONNECT_TIMEOUT_S fails at once instead."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            f"Ray address must be host:port (or auto), got {address!r}; a bare --ray takes the word after it: "
            "put it after the inputs"
        )
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None
