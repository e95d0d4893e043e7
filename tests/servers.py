"""Servers on 127.0.0.1 for the tests: tracking servers that misbehave, as real sockets (one that
accepts and never answers, one that answers 200 and drips its body a byte at a time, two that
flood), and a real S3-compatible server (moto's server mode) with a log of the requests it took."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from helpers import popen_with_default_signals

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


@contextlib.contextmanager
def s3_server(log: Path, *, authenticating: bool = False) -> Iterator[str]:
    """The endpoint URL of moto's S3 server, its request log (one line per request) in `log`. An
    `authenticating` one checks every request's access key against its (empty) IAM store: any
    credentials are refused, as unknown keys are by AWS."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if authenticating else {})}
    moto = Path(sys.executable).parent / "moto_server"
    with open(log, "w") as requests:
        command = [str(moto), "-H", "127.0.0.1", "-p", str(port)]
        server = popen_with_default_signals(command, stdout=requests, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not start: {log.read_text()[-500:]}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


HOSTILE_S3 = ("drip", "endless-listing", "same-token")


@contextlib.contextmanager
def hostile_s3_server(kind: str) -> Iterator[str]:
    """The endpoint of an S3 server on 127.0.0.1 that answers like a store but never finishes:
    `drip` has one object, `digit.png` of 1 KB in bucket `bkt`, whose body it sends 2 bytes a second
    (above a one-byte-a-second stall limit); `endless-listing` lists every prefix as pages of 1,000
    new keys, each page saying more follow under a new token; `same-token` says the same, with the
    same continuation token every time. Every other request is answered 404."""
    assert kind in HOSTILE_S3, kind
    from http.server import ThreadingHTTPServer

    stop = threading.Event()
    handler = type("Handler", (_HostileHandler,), {"kind": kind, "stop": stop, "pages": itertools.count()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _drip(stream, size: int, stop: threading.Event) -> None:
    """`size` zero bytes, 2 a second, until `stop`."""
    with contextlib.suppress(OSError):
        for _ in range(size // 2):
            if stop.wait(1.0):
                return
            stream.write(b"\0\0")
            stream.flush()


def _listing_page(page: int, token: str) -> bytes:
    """A ListObjectsV2 answer of 1,000 new keys that says more follow, under `token`."""
    keys = "".join(
        f"<Contents><Key>many/{page:09d}-{i:04d}.png</Key><Size>100</Size>"
        "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
        for i in range(1000)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name>'
        "<KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
        f"<NextContinuationToken>{token}</NextContinuationToken>{keys}</ListBucketResult>"
    ).encode()


class _HostileHandler(BaseHTTPRequestHandler):
    """hostile_s3_server's answers; `kind`, `stop` and `pages` are set per server."""

    protocol_version = "HTTP/1.1"
    kind: str
    stop: threading.Event
    pages: Iterator[int]

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _after_stop(self) -> bool:
        """The test is over: a client it gave up on (a call left to its thread) must end, not be
        answered for the rest of the session."""
        if self.stop.is_set():
            self.close_connection = True
            self._send(503)
        return self.stop.is_set()

    def do_HEAD(self) -> None:
        if self._after_stop():
            return
        if self.kind == "drip" and self.path.split("?")[0] == "/bkt/digit.png":
            return self._send(200, length=1024)
        if self.path.split("?")[0].rstrip("/") == "/bkt":
            return self._send(200)
        self._send(404)

    def do_GET(self) -> None:
        if self._after_stop():
            return
        path, _, query = self.path.partition("?")
        if self.kind == "drip" and path == "/bkt/digit.png":
            self._send(200, length=1024)
            _drip(self.wfile, 1024, self.stop)
            self.close_connection = True  # stopped short of its length: the client sees the end now
        elif self.kind != "drip" and path.rstrip("/") == "/bkt" and "list-type=2" in query:
            page = next(self.pages)
            self._send(200, _listing_page(page, "same" if self.kind == "same-token" else f"t{page}"))
        else:
            self._send(404)
