"""Whether a process still runs: how a later writer tells that an earlier one died (SIGKILL, the OOM
killer, power loss) and left a temporary file or an open MLflow run behind."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
