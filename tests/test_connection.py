"""cluster/connection.py: a local Ray cluster's daemons leave the caller's process group, so that a signal
to the group (`timeout`, `kill -- -PGID`) reaches only the driver, which stops them; and they do not
outlive a driver killed outright. The end-to-end signal test is test_driver.py's; this one fails
without the fix every time, where the race it prevents struck 4 runs in 22."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import popen_with_default_signals
from mnist_ann.predict.cluster.connection import _check_reachable
from mnist_ann.predict.errors import ClusterError

# Starts a local cluster through `connected`, prints the driver and its daemons, then waits to be killed.
DRIVER = """
import json, os, sys, time
from pathlib import Path
from mnist_ann.predict.cluster.connection import connected

def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found

with connected("auto", 1) as ray:
    daemons = children(os.getpid())
    ids = {pid: [os.getpgid(pid), os.getsid(pid)] for pid in daemons}
    print(json.dumps({"driver": [os.getpgid(0), os.getsid(0)], "daemons": ids}), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_local_clusters_daemons_leave_the_process_group_and_die_with_the_driver():
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    driver = popen_with_default_signals(
        [sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        seen = json.loads(driver.stdout.readline())
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    group, session = seen["driver"]
    daemons = {int(pid): ids for pid, ids in seen["daemons"].items()}
    assert len(daemons) >= 2, daemons  # at least the GCS and the raylet
    assert all(ids[0] != group and ids[1] != session for ids in daemons.values()), (seen, group)
    # Killed outright, the driver cannot stop them: Ray's parent-death signal does (Ray's behaviour).
    deadline = time.monotonic() + 60
    while any(map(_alive, daemons)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in daemons if _alive(pid)]


@pytest.mark.parametrize(
    "address, reason",
    [
        ("nohost", "Ray address must be host:port (or auto), got 'nohost'"),
        ("ray://127.0.0.1:x", "Ray address must be host:port (or auto), got 'ray://127.0.0.1:x'"),
    ],
)
def test_an_address_without_a_port_is_refused_before_any_connection(address, reason):
    with pytest.raises(ClusterError) as caught:
        _check_reachable(address)
    assert str(caught.value).startswith(reason)


# Starts a local cluster through `connected`, runs a task (so that a worker starts) and prints the
# address of every socket listening in the driver's process tree, its daemons' and their workers'.
LISTENERS = """
import json, os
import psutil
from mnist_ann.predict.cluster.connection import connected

with connected("auto", 1) as ray:
    assert ray.get(ray.remote(lambda: os.getpid()).remote()) != os.getpid()
    tree = [psutil.Process()] + psutil.Process().children(recursive=True)
    # Ray's daemons left our session (above) but are still our children; the workers are the raylet's
    pids = {p.pid: p.name() for p in tree}
    listening = [
        [pids[c.pid], c.laddr.ip, c.laddr.port]
        for c in psutil.net_connections("inet")
        if c.pid in pids and c.status == psutil.CONN_LISTEN
    ]
    print(json.dumps(listening))
"""


@pytest.mark.slow
def test_a_cluster_started_for_one_command_listens_on_loopback_only():
    """Every interface before: `gcs_server`, `raylet`, the workers and the driver on `*:port`."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    result = subprocess.run(
        [sys.executable, "-c", LISTENERS],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    listening = json.loads(result.stdout.strip().splitlines()[-1])
    names = {name for name, _, _ in listening}
    assert {"gcs_server", "raylet"} <= names, listening  # the daemons were seen, so the check means something
    assert len(listening) >= 5, listening  # and their workers' and the driver's servers
    assert [entry for entry in listening if entry[1] not in ("127.0.0.1", "::ffff:127.0.0.1")] == []
