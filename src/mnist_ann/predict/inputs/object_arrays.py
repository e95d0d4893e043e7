"""Array objects (s3://) read where they are scored. An .npy of uint8 pixels in C order is cut into
ranges of rows, as a local one is (cluster/driver.py), and each task reads its rows with ranged
GETs: no node copies the whole object, and the driver reads only its header. Any other array
object is copied whole to the node that scores it (objects.local_file)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

from ...core.mnist import IMAGE_SHAPE, NUM_PIXELS, preprocess
from ...core.npy import read_npy_header
from .. import objects
from ..errors import InputError

HEADER_BYTES = 1 << 16  # an .npy header is at most 64 KiB (format version 2); MNIST-shaped ones are 128 bytes


def object_array_ranges(uri: str, kind: str, step: int) -> list[dict] | None:
    """Tasks of `step` rows each ({kind, path, offset, start, stop}) for a splittable .npy object,
    or None where it is read whole (another format, dtype or order, or a header that does not add
    up: its actor then reports why, as for a local file)."""
    if kind != "npy":
        return None
    with objects.store_errors(uri, InputError):
        fp = objects.open_object(uri)
        size = fp.size()
        head = io.BytesIO(objects.read_range(fp, uri, min(HEADER_BYTES, size), 0))
    try:
        shape, fortran, dtype = read_npy_header(head)
    except ValueError:
        return None
    offset, count = head.tell(), shape[0] if shape else 0
    mnist_shaped = len(shape) in (2, 3) and shape[1:] in (IMAGE_SHAPE, (NUM_PIXELS,))
    if dtype != np.uint8 or fortran or not mnist_shaped or offset + count * NUM_PIXELS != size:
        return None
    task = {"kind": kind, "path": uri, "offset": offset}
    return [{**task, "start": n, "stop": min(n + step, count)} for n in range(0, count, step)]


def object_rows(task: dict, batch: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, model-ready pixels) of a task's range, `batch` rows at a time, each read with one
    ranged GET; InputError if the object is shorter than its header said (replaced meanwhile)."""
    uri = task["path"]
    with objects.store_errors(uri, InputError):
        fp = objects.open_object(uri)
        for start in range(task["start"], task["stop"], batch):
            n = min(batch, task["stop"] - start) * NUM_PIXELS
            data = objects.read_range(fp, uri, n, task["offset"] + start * NUM_PIXELS)
            if len(data) < n:
                raise InputError(f"the object is shorter than its header says: {n - len(data)} bytes short")
            yield start, preprocess(np.frombuffer(data, np.uint8).reshape(-1, NUM_PIXELS))
