"""How a process that decodes images treats its freed memory: it keeps it for the next task (glibc;
elsewhere nothing changes).

glibc hands a task's freed arrays (~1 MB for 256 digits, ~13 MB for a Ray task's 4096) back to the
kernel and faults them in again on the next task: 5 page faults per 28x28 PNG, a fifth of predict's
CPU time at 100k PNGs. Measured here (2 cores, 100k PNGs, alternating runs): the worker pool
7.2 -> 5.9 s; one worker in the main process (`--workers 1`) 11.6 -> 9.0 s; a local Ray cluster's
actors 21.9 -> 19.8 s, of which about 13 s is Ray's start.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
KEEP_ARRAYS_UP_TO = 32 << 20  # arrays up to 32 MiB (glibc's most) come from the heap, not their own mapping
KEEP_FREED_UP_TO = 64 << 20  # and up to 64 MiB of freed heap is kept, not handed back

_kept = False  # set once per process


def keep_freed_memory() -> None:
    """Keep freed memory in this process from now on; cheap to call again (decode_images calls it
    for every task, in whichever process runs it: a pool worker, the main process, a Ray actor)."""
    global _kept
    if _kept:
        return
    _kept = True
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.mallopt(M_MMAP_THRESHOLD, KEEP_ARRAYS_UP_TO)
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED_UP_TO)
    except (OSError, AttributeError):  # no mallopt: not glibc
        pass
