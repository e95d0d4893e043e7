"""An S3-compatible server for `make bench` (moto's server mode, from the dev extra) on 127.0.0.1,
and what it can carry: the object-store rows measure mnist-ann's path through it, which on one
2-core machine shares the cores with the server itself, so its own throughput is given beside them."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from workload import BIN

SETTINGS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}


@contextlib.contextmanager
def s3_server(log: Path) -> Iterator[dict[str, str]]:
    """The AWS settings that reach a new moto server (set in this process's environment too, so
    that a Ray cluster started from it reaches the server as well); stopped at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(log, "w") as requests:
        server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=requests,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    settings = {**SETTINGS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{settings['AWS_ENDPOINT_URL']}/moto-api/data.json", timeout=2).close()
                break
            time.sleep(0.1)
        os.environ.update(settings)
        yield settings
    finally:
        server.terminate()
        server.wait(timeout=60)


def upload_shards(settings: dict[str, str], array: Path, prefix: str, shards: int) -> dict:
    """The rows of the .npy `array` as `shards` .npy objects under `prefix` (creating the buckets
    digits-in and preds-out), then one of them read back whole: the server's MB/s each way. Shards,
    not one object: moto copies a whole object for every ranged GET, so 1M rows in one object would
    measure that copy (12 MB/s, measured) instead of the job."""
    import io

    import numpy as np
    from pyarrow import fs

    store = fs.S3FileSystem(endpoint_override=settings["AWS_ENDPOINT_URL"], region="us-east-1",
                            allow_bucket_creation=True)  # fmt: skip
    for bucket in ("digits-in", "preds-out"):
        store.create_dir(bucket)
    rows = np.load(array, mmap_mode="r", allow_pickle=False)
    put_s = put_bytes = 0.0
    for number, part in enumerate(np.array_split(np.arange(len(rows)), shards)):
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(rows[part[0] : part[-1] + 1]))
        started = time.perf_counter()
        with store.open_output_stream(f"{prefix.removeprefix('s3://')}part-{number:03d}.npy") as sink:
            sink.write(buffer.getvalue())
        put_s, put_bytes = put_s + time.perf_counter() - started, put_bytes + buffer.tell()
    started = time.perf_counter()
    with store.open_input_stream(f"{prefix.removeprefix('s3://')}part-000.npy") as source:
        got = len(source.read())
    get_s = time.perf_counter() - started
    return {"put_mb_per_s": round(put_bytes / 1e6 / put_s), "get_mb_per_s": round(got / 1e6 / get_s)}
