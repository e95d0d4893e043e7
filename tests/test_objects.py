"""objects.py against a real S3-compatible server on 127.0.0.1 (moto's): prefixes listed in the order
a folder is walked, in pages and never object by object; a missing bucket, a bucket-less URI and
refused credentials each one line; objects written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_ann.predict import objects
from mnist_ann.predict.errors import InputError, ObjectStoreError


def test_a_prefix_is_listed_as_a_folder_is_walked_with_sizes_and_hidden_keys_passed_over(s3):
    for key, size in {"a/x.png": 3, "a.png": 1, "b/.hidden.png": 2, ".cache/c.png": 2, "b/y.npy": 5}.items():
        s3.put(f"s3://digits-in/in/{key}", b"z" * size)
    s3.put("s3://digits-in/inner.png", b"z")  # shares the prefix's letters, not its folder
    listed = objects.list_objects("s3://digits-in/in/")
    assert listed == [
        ("s3://digits-in/in/a/x.png", 3),
        ("s3://digits-in/in/a.png", 1),
        ("s3://digits-in/in/b/y.npy", 5),
    ]
    assert objects.list_objects("s3://digits-in/in") == listed  # no object of that name: a prefix
    assert objects.list_objects("s3://digits-in/in/a.png") == [("s3://digits-in/in/a.png", 1)]
    assert len(objects.list_objects("s3://digits-in/in/", hidden=True)) == 5
    assert objects.list_objects("s3://digits-in/nothing/") == []


def test_listing_many_objects_asks_for_pages_not_for_each_object(s3):
    import boto3  # moto's dependency: its puts cost a tenth of pyarrow's streams

    client = boto3.client("s3", endpoint_url=s3.endpoint)
    for n in range(1001):
        client.put_object(Bucket="digits-in", Key=f"many/{n:05d}.png", Body=b"z")
    before = len(s3.log.read_text().splitlines())
    listed = objects.list_objects("s3://digits-in/many/")
    requests = s3.log.read_text().splitlines()[before:]
    assert [name for name, _ in listed] == [f"s3://digits-in/many/{n:05d}.png" for n in range(1001)]
    assert len(requests) == 2 and all("list-type=2" in line for line in requests), requests  # 1000 a page


@pytest.mark.parametrize("uri", ["s3://nobucket/x/", "s3://nobucket/x.png"])
def test_a_missing_bucket_is_the_runs_error_in_one_line(s3, uri):
    with pytest.raises(ObjectStoreError, match=r"^s3://nobucket: no such bucket$"):
        objects.list_objects(uri)


@pytest.mark.parametrize("uri", ["s3://", "s3:///key", "s3://Caps/key", "s3://a/key"])
def test_a_uri_that_names_no_bucket_is_refused(uri):
    with pytest.raises(ObjectStoreError, match="names no bucket"):
        objects.split(uri)


@pytest.mark.heavy
def test_refused_credentials_are_one_line_naming_the_cause(tmp_path, monkeypatch):
    from servers import s3_server

    with s3_server(tmp_path / "requests.log", authenticating=True) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDNOTKNOWN")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        objects.store.cache_clear()
        try:
            with pytest.raises(ObjectStoreError) as refused:
                objects.list_objects("s3://digits-in/batch1/")
        finally:
            objects.store.cache_clear()
    message = str(refused.value)
    assert message.startswith("s3://digits-in/batch1/: AWS Error INVALID_ACCESS_KEY_ID during ListObjectsV2")
    assert "\n" not in message and "Request ID" not in message and "wrong" not in message


def test_the_endpoint_is_read_from_the_aws_settings_service_first(s3, monkeypatch, closed_port_url):
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url.rsplit("/", 1)[0])  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    objects.store.cache_clear()
    s3.put("s3://digits-in/a.png", b"z")
    assert objects.list_objects("s3://digits-in/a.png") == [("s3://digits-in/a.png", 1)]
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    objects.store.cache_clear()
    with pytest.raises(ObjectStoreError, match="NETWORK_CONNECTION"):
        objects.list_objects("s3://digits-in/a.png")


def test_an_image_object_is_read_whole_unless_too_large(s3, monkeypatch):
    s3.put("s3://digits-in/a.png", b"0123456789")
    assert objects.read_image("s3://digits-in/a.png").read() == b"0123456789"
    monkeypatch.setattr(objects, "MAX_IMAGE_BYTES", 9)
    with pytest.raises(InputError, match="^10 bytes, over the 9-byte limit for an image$"):
        objects.read_image("s3://digits-in/a.png")
    with pytest.raises(InputError, match=r"^no such object$"):
        objects.read_image("s3://digits-in/gone.png")


def test_an_object_is_written_whole_or_not_at_all(s3):
    with objects.written_to("s3://preds-out/p.csv") as local:
        with open(local, "w") as fp:
            fp.write("a,b\n")
        assert s3.keys("s3://preds-out/") == []  # nothing appears before the block ends
    assert s3.get("s3://preds-out/p.csv") == b"a,b\n"
    with pytest.raises(KeyboardInterrupt), objects.written_to("s3://preds-out/q.csv") as local:
        with open(local, "w") as fp:
            fp.write("half")
        raise KeyboardInterrupt
    assert s3.keys("s3://preds-out/") == ["p.csv"]


def test_an_upload_stopped_midway_leaves_the_former_object_and_nothing_beside_it(s3):
    """pyarrow completes an upload with what was written when its stream closes, an error's exit
    included: the upload goes to a hidden key, moved into place only once whole, deleted otherwise."""
    from mnist_ann.core.process import Terminated

    s3.put("s3://preds-out/run/p.csv", b"former rows\n")

    def send_part_then_stop(sink) -> None:
        sink.write(b"x" * (6 << 20))  # past a multipart upload's first part
        raise Terminated

    with pytest.raises(Terminated):
        objects._publish("s3://preds-out/run/p.csv", send_part_then_stop, 12 << 20)
    assert s3.get("s3://preds-out/run/p.csv") == b"former rows\n"
    assert objects.list_objects("s3://preds-out/run/", hidden=True) == [("s3://preds-out/run/p.csv", 12)]
    objects.write_bytes("s3://preds-out/run/p.csv", b"new rows\n")
    assert objects.list_objects("s3://preds-out/run/", hidden=True) == [("s3://preds-out/run/p.csv", 9)]


def test_a_local_folder_that_a_killed_process_left_is_removed_by_the_next(tmp_path, monkeypatch):
    import tempfile

    from mnist_ann.core.files import TEMPORARY_PREFIX, machine_tag, process_alive

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = next(pid for pid in range(4_000_000, 4_100_000) if not process_alive(pid))  # above Linux's usual pid_max
    left = tmp_path / f"{TEMPORARY_PREFIX}{gone}-{machine_tag()}-0badf00d.tmp.upload"
    (left / "sub").mkdir(parents=True)
    (left / "object.csv").write_bytes(b"rows of a run killed mid-upload")
    alive = tmp_path / f"{TEMPORARY_PREFIX}1-{machine_tag()}-0badf00d.tmp.upload"  # pid 1 lives
    other = tmp_path / f"{TEMPORARY_PREFIX}{gone}-abcdef-0badf00d.tmp.upload"  # another machine's
    alive.mkdir(), other.mkdir()
    with objects.local_folder("upload") as folder:
        assert Path(folder).parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_a_local_copy_of_an_object_ends_as_it_does_and_is_removed_after(s3):
    s3.put("s3://digits-in/deep/x.npy", b"abc")
    with objects.local_file("s3://digits-in/deep/x.npy") as copy:
        assert copy.endswith("/object.npy") and Path(copy).read_bytes() == b"abc"
    assert not Path(copy).parent.exists()
    with objects.local_file("here.npy") as same:
        assert same == "here.npy"


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["stall", "drip"])
def test_a_store_that_stalls_fails_the_request_within_its_bounds(monkeypatch, kind):
    """A store that accepts and says nothing, or sends a byte every 2 s: the request fails once the
    stall bound passes, on each of the attempts (here 1 s and 2 attempts; 30 s and 3 in use)."""
    import time

    from servers import misbehaving_server

    monkeypatch.setattr(objects, "STALL_TIMEOUT_S", 1)
    monkeypatch.setattr(objects, "ATTEMPTS", 2)
    with misbehaving_server(kind) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        objects.store.cache_clear()
        started = time.monotonic()
        try:
            with pytest.raises(ObjectStoreError, match="NETWORK_CONNECTION .* Timeout was reached"):
                objects.list_objects("s3://digits-in/batch1/")
        finally:
            objects.store.cache_clear()
    assert time.monotonic() - started < 2 * 1 + 3  # two attempts of a second, and the retry's back-off


@pytest.mark.parametrize("key", ["...", "x/.npy", "a" * 1000 + ".npy", "a.n/py", "\u00e9t\u00e9.p\u00f1g"])
def test_an_objects_local_copy_has_a_safe_name_whatever_its_key(s3, key):
    s3.put(f"s3://digits-in/{key}", b"abc")
    with objects.local_file(f"s3://digits-in/{key}") as copy:
        assert Path(copy).parent.name.endswith(".tmp.object") and Path(copy).read_bytes() == b"abc"
        assert Path(copy).name in ("object", "object.npy")  # ".npy" alone is a name, not a suffix
    with objects.written_to(f"s3://preds-out/{key}") as local:
        assert Path(local).parent.name.endswith(".tmp.upload")
        Path(local).write_bytes(b"rows")
    assert s3.get(f"s3://preds-out/{key}") == b"rows"


@pytest.mark.parametrize(
    "uri", ["s3://digits-in/..", "s3://digits-in/x/../y.png", "s3://digits-in/./a/", "s3://b.c/a/."]
)
def test_a_key_with_dot_parts_is_refused_as_http_clients_resolve_them_away(uri):
    with pytest.raises(ObjectStoreError, match="a key with a . or .. part names another object"):
        objects.split(uri)


def test_keys_with_an_empty_part_are_named_and_long_keys_are_written(s3, exported, tmp_path):
    """Issue 37 (15): an object key with an empty part (`a//b.png`, legal in S3) stopped the whole
    run with pyarrow's traceback, good objects lost; `--output s3://b/a//b.csv` failed only after
    scoring everything; a 300-byte key was refused by the local 255-byte file-name rule."""
    import io

    import boto3
    from PIL import Image

    from helpers import font_digits, predict, read_rows

    def png(digit) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(digit).save(buffer, "PNG")
        return buffer.getvalue()

    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    long_key = "a/" + "x" * 300 + ".png"
    for key, digit in (("a/good.png", 1), ("a//b.png", 2), (long_key, 3)):
        client.put_object(Bucket="digits-in", Key=key, Body=png(font_digits()[digit]))
    model = exported[1]
    done = predict("--model", model, "s3://digits-in/a/", "--output", tmp_path / "o.csv")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert [r["source"] for r in read_rows(tmp_path / "o.csv")] == [
        "s3://digits-in/a/good.png",
        f"s3://digits-in/{long_key}",
    ]
    reason = "a key with an empty part (//) cannot be read or written here"
    assert read_rows(tmp_path / "o.errors.csv") == [{"source": "s3://digits-in/a//b.png", "error": reason}]
    for args in (["s3://digits-in/a//b.png", "--output", tmp_path / "p.csv"],
                 ["s3://digits-in/a/good.png", "--output", "s3://preds-out/a//b.csv"]):  # fmt: skip
        refused = predict("--model", model, *args)
        assert refused.returncode == 1 and refused.stderr.endswith(f"{reason}; refused\n"), refused.stderr[-1000:]
        assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "p.csv").exists()
    long_output = "s3://preds-out/" + "y" * 300 + ".csv"
    written = predict("--model", model, "s3://digits-in/a/good.png", "--output", long_output)
    assert written.returncode == 0, written.stderr[-1000:]
    assert s3.get(long_output).startswith(b"source,label")


def test_an_array_object_is_checked_before_it_is_copied_here(s3, monkeypatch):
    """Issue 37 (13): an `.npy` object was copied whole to the local temporary folder before its
    header was read, with no size bound: a large object filled the disk. Its header is now read
    alone first, and an object larger than the disk's free space is refused before the copy."""
    import io
    import shutil
    import tempfile

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 28, 28), np.uint8))
    s3.put("s3://digits-in/good.npy", buffer.getvalue())
    forged = "s3://digits-in/forged.npy"
    s3.put(forged, b"\x93NUMPY\x01\x00" + b"\x00" * 4_000_000)  # a header numpy refuses
    copies = []
    real_copy = shutil.copyfileobj
    monkeypatch.setattr(objects.shutil, "copyfileobj", lambda *a: copies.append(a) or real_copy(*a))
    with pytest.raises(InputError, match="^array: not a valid .npy array"), objects.local_file(forged, "npy"):
        pass
    assert copies == []  # refused from its first bytes: nothing copied
    with objects.local_file("s3://digits-in/good.npy", "npy") as local:
        assert np.load(local).shape == (3, 28, 28) and len(copies) == 1
    # As if the disk had less room than the object needs: twice what is free now, so that files
    # other processes delete meanwhile cannot make room (a CI run beside other work once did).
    free = shutil.disk_usage(tempfile.gettempdir()).free
    monkeypatch.setattr(objects, "SPARE_BYTES", 2 * free)
    refused = pytest.raises(InputError, match="bytes: more than the local disk has free for a copy")
    with refused, objects.local_file("s3://digits-in/good.npy", "npy"):
        pass
    assert len(copies) == 1


@pytest.fixture
def hostile_store(monkeypatch):
    """Point this process (and the commands it starts) at a hostile S3 server of a kind."""
    import contextlib
    import threading

    from servers import hostile_s3_server

    from helpers import S3_ENV

    @contextlib.contextmanager
    def serving(kind: str):
        with hostile_s3_server(kind) as endpoint:
            for name, value in {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
                monkeypatch.setenv(name, value)
            objects.store.cache_clear()
            try:
                yield endpoint
            finally:
                objects.store.cache_clear()
        # A call given up on is left to its thread: once the server is gone it must end, not list on
        # in this process for the rest of the session (its pages took gigabytes, and a later test's
        # TensorFlow crashed beside it).
        for thread in threading.enumerate():
            if thread.name.startswith("mnist-ann store call:"):
                thread.join(timeout=60)
                assert not thread.is_alive(), f"{thread.name} still runs after its server stopped"

    return serving


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["endless-listing", "same-token"])
def test_a_listing_without_end_is_given_up_at_its_memory_bound(hostile_store, monkeypatch, kind):
    """A store whose listing is always truncated (new keys on every page, or the same continuation
    token every time) is listed until the listing has taken its memory (here 96 MiB, 1 GiB in use)."""
    import time

    from mnist_ann.predict import bounded

    monkeypatch.setattr(bounded, "LISTING_MAX_BYTES", 96 << 20)
    with hostile_store(kind):
        started = time.monotonic()
        with pytest.raises(ObjectStoreError, match=r"^s3://bkt/many/: the listing took over 96 MiB of memory"):
            objects.list_objects("s3://bkt/many/")
    assert time.monotonic() - started < 60


@pytest.mark.heavy
def test_an_object_sent_too_slowly_is_given_up_at_its_deadline(hostile_store, monkeypatch):
    """An object sent at 2 bytes a second (above the stall limit, so no request fails) is given up
    when its deadline passes (here 2 s for its 1 KB; 60 s plus its size at 256 KiB/s in use)."""
    import time

    from mnist_ann.predict import bounded

    monkeypatch.setattr(bounded, "REQUEST_DEADLINE_S", 2)
    with hostile_store("drip"):
        started = time.monotonic()
        with pytest.raises(InputError, match=r"^no complete answer from the store within 2 s; given up$"):
            objects.read_image("s3://bkt/digit.png")
    assert time.monotonic() - started < 5


@pytest.mark.heavy
@pytest.mark.parametrize("kind, uri", [("endless-listing", "s3://bkt/many/"), ("drip", "s3://bkt/digit.png")])
def test_a_signal_ends_predict_within_seconds_whatever_the_store_is_doing(hostile_store, exported, tmp_path, kind, uri):
    """SIGTERM while predict lists without end or reads an object sent 2 bytes a second (in a worker
    process): exit 143 within seconds, one word, no traceback, no output."""
    import signal
    import subprocess
    import sys
    import time

    from helpers import popen_with_default_signals

    output = tmp_path / "p.csv"
    with hostile_store(kind):
        command = [sys.executable, "-m", "mnist_ann.cli", "predict", uri, "--model", str(exported[1])]
        process = popen_with_default_signals(
            [*command, "--output", str(output), "--workers", "2"], stderr=subprocess.PIPE, text=True
        )
        time.sleep(6)  # started, and waiting on the store
        assert process.poll() is None, process.communicate()[1]
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - sent
    assert process.returncode == 143, stderr
    assert took < 5, f"{took:.1f} s after SIGTERM"
    assert stderr.strip().splitlines()[-1] == "terminated" and "Traceback" not in stderr
    assert not output.exists()
