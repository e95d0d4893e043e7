"""Tracking servers that misbehave, as real sockets on 127.0.0.1: one that accepts and never
answers, one that answers 200 and drips its body a byte at a time, and two that flood."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

KINDS = ("stall", "drip", "flood", "huge")
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
DRIP_EVERY = 2.0  # seconds between bytes: inside MLflow's 5 s per-read timeout, so no read ever times out


@contextlib.contextmanager
def misbehaving_server(kind: str) -> Iterator[str]:
    """The URI of a server that, to every request: `stall` says nothing; `drip` sends 200 and a
    JSON body of 1 MB a byte each DRIP_EVERY s; `flood` sends 200 and an endless chunked body as
    fast as it can; `huge` declares a 1000 MB body and starts sending it."""
    assert kind in KINDS, kind
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection = listener.accept()[0]
            except OSError:
                continue
            held.append(connection)
            threading.Thread(target=_answer, args=(connection, kind, stop), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        server.join()
        for connection in held:
            connection.close()
        listener.close()


def _answer(connection: socket.socket, kind: str, stop: threading.Event) -> None:
    with contextlib.suppress(OSError):
        connection.recv(65536)  # the request; what it asks does not matter
        if kind == "stall":
            stop.wait()
        elif kind == "drip":
            connection.sendall(_HEAD + b"Content-Length: 1000000\r\n\r\n")
            while not stop.wait(DRIP_EVERY):
                connection.sendall(b" ")
        elif kind == "flood":
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            piece = b" " * 65536
            chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
            while not stop.is_set():
                connection.sendall(chunk)
        else:
            length = 1000 * 1024 * 1024
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length
            )
            piece = b" " * 65536
            started = time.monotonic()
            while not stop.is_set() and time.monotonic() - started < 60:
                connection.sendall(piece)
