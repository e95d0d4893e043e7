"""transfer.py: an HTTP GET against a real server on 127.0.0.1 retries what may recover (5xx, 429, a
cut transfer) a bounded number of times, and gives up at once on what will not (404)."""

from __future__ import annotations

import pytest

from mnist_ann.training.download import transfer
from mnist_ann.training.errors import DownloadError
from mnist_ann.training.params import DownloadParams

LIMITS = DownloadParams(sources=(), connect_timeout=1.0, read_timeout=0.5, retries=2, max_seconds=60)


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch):
    monkeypatch.setattr(transfer, "FIRST_RETRY_DELAY", 0.01)


def test_body_arrives_after_transient_failures(http_server, tmp_path):
    base, replies = http_server
    replies.routes["/f"] = [("status", 503), ("cut", b"x" * 5000, 100), ("ok", b"payload")]
    transfer.http_get(f"{base}/f", tmp_path / "f", LIMITS)
    assert (tmp_path / "f").read_bytes() == b"payload" and replies.hits["/f"] == 3


@pytest.mark.parametrize(
    "routes, reason, hits",
    [
        ([("status", 404)], "HTTP 404 Not Found", 1),
        ([("status", 429)], "HTTP 429 Too Many Requests (3 attempts)", 3),
        ([("stall", b"y" * 100, 2.0)], "transfer stalled for 0.5 s (3 attempts)", 3),
    ],
)
def test_failures_are_bounded_and_named(http_server, tmp_path, routes, reason, hits):
    base, replies = http_server
    replies.routes["/f"] = routes
    with pytest.raises(DownloadError) as caught:
        transfer.http_get(f"{base}/f", tmp_path / "f", LIMITS)
    assert str(caught.value) == reason and replies.hits["/f"] == hits
