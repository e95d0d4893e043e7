"""The messages between a stage and its tracking agent: a JSON frame, then its binary frames (arrays
as .npy bytes, an ONNX model's bytes). Nothing is pickled, and arrays load with allow_pickle=False."""

from __future__ import annotations

import io
import json
from multiprocessing.connection import Connection
from typing import Any

import numpy as np


def send(connection: Connection, header: dict[str, Any], blobs: list[bytes] = ()) -> None:
    connection.send_bytes(json.dumps({**header, "blobs": len(blobs)}).encode())
    for blob in blobs:
        connection.send_bytes(blob)


def receive(connection: Connection) -> tuple[dict[str, Any], list[bytes]]:
    """The next message; EOFError when the other side has gone."""
    header = json.loads(connection.recv_bytes())
    return header, [connection.recv_bytes() for _ in range(header.pop("blobs"))]


def array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def array_from(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)
