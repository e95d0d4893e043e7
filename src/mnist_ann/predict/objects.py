"""Inputs and outputs of `mnist-ann predict` on S3-compatible object stores (`s3://bucket/key`),
through pyarrow's S3 filesystem, set up from the settings AWS's own tools read: the endpoint from
AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (pyarrow reads neither itself: apache/arrow#49643), the
region from AWS_REGION, else AWS_DEFAULT_REGION, and the credentials from pyarrow's AWS chain (the
environment, ~/.aws, the instance's role).

A prefix is listed in pages of a thousand keys, sizes included (ListObjectsV2): no object is asked
about one by one. An object is written whole or not at all (one PUT, or a multipart upload that is
completed only when its stream closes), so a shard that a worker was writing when it died is absent,
not short. Every request to the store is bounded (CONNECT_TIMEOUT_S, STALL_TIMEOUT_S, ATTEMPTS),
and every call in total time, with a signal ending the wait at once (bounded.py).

An object is uploaded under a temporary hidden key beside its own, then moved into place by the
store (a copy made there, which appears whole): pyarrow cannot abort an upload, and the stream it
writes to completes the object with whatever was written when it is closed, an error's exit
included (apache/arrow#40502). A failed or interrupted upload leaves at most that hidden key.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..core.errors import DataError
from ..core.files import orphans, temporary_name
from ..core.npy import check_npy_header
from . import bounded
from .errors import InputError, ObjectStoreError

T = TypeVar("T")
SCHEME = "s3://"
MAX_IMAGE_BYTES = 256 << 20  # an image object read into memory whole; larger ones are that input's error
_COPY_BUFFER = 8 << 20
# Bounds on each request (not on a whole transfer, which may be long): a connection must be made
# within CONNECT_TIMEOUT_S, and a request fails when the store sends less than a byte a second for
# STALL_TIMEOUT_S (on Linux pyarrow's request_timeout is curl's low-speed limit); ATTEMPTS in all.
CONNECT_TIMEOUT_S, STALL_TIMEOUT_S, ATTEMPTS = 10, 30, 3


def is_object(name: str | os.PathLike) -> bool:
    return isinstance(name, str) and name.startswith(SCHEME)


def split(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; ObjectStoreError for one that names no bucket."""
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ObjectStoreError(f"{uri}: names no bucket (s3://BUCKET/KEY, the bucket 3-63 of a-z 0-9 . -)")
    if any(part in (".", "..") for part in key.split("/")):
        # HTTP clients resolve them away: s3://b/.. was read as the account's list of buckets
        raise ObjectStoreError(f"{uri}: a key with a . or .. part names another object than it says; refused")
    if has_empty_part(uri):
        raise ObjectStoreError(f"{uri}: {EMPTY_PART_REASON}")
    return bucket, key


# S3 allows a key with an empty part (`a//b.png`); pyarrow, which reads objects here, refuses such a
# path (ArrowInvalid: a traceback that stopped the run, after scoring, for an output).
EMPTY_PART = "//"
EMPTY_PART_REASON = "a key with an empty part (//) cannot be read or written here; refused"


def has_empty_part(uri: str) -> bool:
    """Whether the key of `uri` has an empty part (a trailing slash, a prefix's, is not one)."""
    key = uri[len(SCHEME) :].partition("/")[2]
    return EMPTY_PART in key.rstrip("/") or key.startswith("/")


def join(prefix: str, name: str) -> str:
    return prefix.rstrip("/") + "/" + name


@functools.cache
def store():
    """This process's S3 filesystem (pyarrow's), made once."""
    from pyarrow import fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    options = {"endpoint_override": endpoint, "region": region} if region else {"endpoint_override": endpoint}
    return fs.S3FileSystem(
        **options,
        connect_timeout=CONNECT_TIMEOUT_S,
        request_timeout=STALL_TIMEOUT_S,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=ATTEMPTS),
    )


def object_path(uri: str) -> str:
    """The bucket/key path pyarrow names an object by."""
    bucket, key = split(uri)
    return f"{bucket}/{key}"


_REQUEST_ID = re.compile(r"\s*\(Request ID: [^)]*\)")


@contextlib.contextmanager
def store_errors(uri: str, error: type = ObjectStoreError) -> Iterator[None]:
    """pyarrow's OSError as one line naming the URI (but for an input's error, which is listed by
    its input): "AWS Error ACCESS_DENIED during HeadObject operation: ..." (the bucket and key it
    repeats, and the request id, left out)."""
    try:
        yield
    except FileNotFoundError:  # pyarrow's "[Errno 2] Path does not exist 'bucket/key'. Detail: ..."
        raise error("no such object" if error is InputError else f"{uri}: no such object") from None
    except OSError as exc:
        text = _REQUEST_ID.sub("", str(exc)).strip()
        reason = (text.split(": ", 1)[1] if text.startswith("When ") and ": " in text else text).strip()
        if reason.endswith("operation:"):  # what pyarrow says when no credentials were found, among others
            reason += " (no reason given: are credentials set, AWS_ACCESS_KEY_ID or ~/.aws/credentials?)"
        reason = reason.splitlines()[0] if reason else type(exc).__name__
        raise error(reason if error is InputError else f"{uri}: {reason}") from None  # an input's error is listed by it


def list_objects(uri: str, *, hidden: bool = False) -> list[tuple[str, int]]:
    """(URI, size) of the object `uri` names, or of every object under it as a prefix (a folder),
    in the order a folder is walked (name by name, a "subfolder" where it sorts); keys with a part
    that starts with "." are passed over, as hidden files are, unless `hidden`. [] when it names
    nothing."""
    from pyarrow import fs

    bucket, key = split(uri)
    found = None
    with store_errors(uri):
        if key and not key.endswith("/"):
            found = _request(lambda: store().get_file_info(f"{bucket}/{key}"), uri)
            if found.type == fs.FileType.File:
                return [(uri, found.size)]
        selector = fs.FileSelector(f"{bucket}/{key}", recursive=True, allow_not_found=True)
        listed = [] if found is not None and found.type == fs.FileType.NotFound else _listing(selector, uri)
    if not listed:
        check_bucket(uri)  # nothing found: a missing bucket is the whole run's error, not this input's
    return [(f"{SCHEME}{info.path}", info.size) for info in _files(listed, bucket, key, hidden)]


def _files(listed: list, bucket: str, key: str, hidden: bool) -> list:
    """The files among pyarrow's `listed` infos under `bucket`/`key`, in the order a folder is
    walked; those with a part below `key` that starts with "." passed over unless `hidden`."""
    from pyarrow import fs

    base = len(bucket) + 1 + len(key.rstrip("/")) + (1 if key.strip("/") else 0)
    files = []
    for info in listed:
        below = info.path[base:].split("/")
        if info.type == fs.FileType.File and (hidden or not any(part.startswith(".") for part in below)):
            files.append((below, info.path, info))
    return [info for _, _, info in sorted(files, key=lambda file: file[:2])]


def _request(function: Callable[[], T], uri: str, error: type[Exception] = ObjectStoreError) -> T:
    """One call to the store that moves no bulk of bytes, bounded as a request (bounded.py)."""
    return bounded.call(function, uri, bounded.REQUEST_DEADLINE_S, error=error)


def _transfer(function: Callable[[], T], uri: str, size: int, error: type[Exception] = ObjectStoreError) -> T:
    """One call that moves `size` bytes, bounded in time by them."""
    return bounded.call(function, uri, bounded.transfer_deadline(size), error=error)


def _listing(selector: Any, uri: str) -> list:
    """Every object under `selector`: pyarrow asks for all pages in one call, so the call is bounded
    in time and in the memory its pages take, not in pages."""
    return bounded.call(
        lambda: store().get_file_info(selector),
        uri,
        bounded.LISTING_DEADLINE_S,
        max_growth=bounded.LISTING_MAX_BYTES,
    )


def open_object(uri: str, error: type[Exception] = InputError) -> Any:
    """pyarrow's random-access file of an object (its size known: one HEAD), for ranged reads
    through `read_range`."""
    return _request(lambda: store().open_input_file(object_path(uri)), uri, error)


def read_range(source: Any, uri: str, size: int, offset: int, *, error: type[Exception] = InputError) -> bytes:
    """`size` bytes of an open object from `offset`: one ranged GET, bounded by its size."""
    return _transfer(lambda: source.read_at(size, offset), uri, size, error)


def read_image(uri: str) -> io.BytesIO:
    """An image object's bytes, for Pillow; InputError for one that cannot be read or is too large."""
    return read_whole(uri, MAX_IMAGE_BYTES, "an image")


def read_whole(uri: str, max_bytes: int, what: str = "the object") -> io.BytesIO:
    """An object's bytes; InputError for one that cannot be read or is larger than `max_bytes`."""
    with store_errors(uri, InputError):
        stream = open_object(uri)
        size = stream.size()
        if size > max_bytes:
            raise InputError(f"{size:,} bytes, over the {max_bytes:,}-byte limit for {what}")
        return io.BytesIO(read_range(stream, uri, size, 0))


def modified(prefix: str) -> list[tuple[str, Any]]:
    """(URI, time of its last write, by the store's clock) of each object under `prefix`, hidden
    keys passed over; [] when there are none."""
    from pyarrow import fs

    bucket, key = split(prefix)
    selector = fs.FileSelector(f"{bucket}/{key}", recursive=True, allow_not_found=True)
    with store_errors(prefix):
        listed = _listing(selector, prefix)
    return [(f"{SCHEME}{info.path}", info.mtime) for info in _files(listed, bucket, key, hidden=False)]


@contextlib.contextmanager
def local_file(name: str, kind: str | None = None) -> Iterator[str]:
    """`name` itself for a local file; for an object, a temporary local copy (an array file, then
    read in place as local ones are), removed when the block ends, named by _local_name."""
    if not is_object(name):
        yield name
        return
    uri = name
    with local_folder("object") as folder:
        copy = os.path.join(folder, _local_name(uri))
        with store_errors(uri, InputError):
            head = open_object(uri)
            _check_before_copy(head, uri, folder, kind)
            _transfer(lambda: _copy_here(uri, copy), uri, head.size(), InputError)
        yield copy


def _copy_here(uri: str, copy: str) -> None:
    # The copy as it always was: pyarrow's input stream (which also undoes a .gz object's
    # compression, as the IDX reader expects of a `.gz` copy).
    with store().open_input_stream(object_path(uri)) as source, open(copy, "wb") as fp:
        shutil.copyfileobj(source, fp, _COPY_BUFFER)


NPY_HEADER_BYTES = 1 << 16  # numpy writes headers of a few hundred bytes; its own reader allows 64 KiB
SPARE_BYTES = 64 << 20  # left free on the local disk beside a copy


def _check_before_copy(source: Any, uri: str, folder: str, kind: str | None) -> None:
    """Refuse an object before copying it here: one larger than the local disk has room for (a copy
    filled the disk), and an array of `kind` npy whose header (read first, alone) is not a valid
    array header; `source` is pyarrow's random-access file of it (only its size and first bytes
    are read)."""
    size, free = source.size(), shutil.disk_usage(folder).free
    if size + SPARE_BYTES > free:
        raise InputError(f"{size:,} bytes: more than the local disk has free for a copy ({free:,} bytes in {folder})")
    if kind == "npy":
        head = io.BytesIO(read_range(source, uri, min(size, NPY_HEADER_BYTES), 0))
        try:
            check_npy_header(head, "array", max_bytes=2**63 - 1)  # mapped once copied, never allocated
        except DataError as exc:
            raise InputError(str(exc)) from None


def _local_name(uri: str) -> str:
    """`object` with the key's suffix (.npy, .gz, .parquet: what readers and writers look at), never
    the key's own last part, which may be `..` or as long as S3 allows (1024 bytes)."""
    suffix = os.path.splitext(uri.rsplit("/", 1)[-1])[1]
    return "object" + (suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,16}", suffix) else "")


@contextlib.contextmanager
def written_to(uri: str) -> Iterator[str]:
    """A local temporary file to write; uploaded to `uri` when the block ends without error (the
    object appears whole or not at all), removed either way."""
    with local_folder("upload") as folder:
        local = os.path.join(folder, _local_name(uri))
        yield local
        upload(local, uri)


@contextlib.contextmanager
def local_folder(purpose: str) -> Iterator[str]:
    """A temporary folder on this machine (in $TMPDIR), removed when the block ends. Its name
    carries this process's pid (core/files.py: temporary_name), so that the folder of a process
    killed outright (SIGKILL: the whole output was left in /tmp) is removed by the next one."""
    parent = tempfile.gettempdir()
    _remove_orphans(parent)
    folder = os.path.join(parent, temporary_name(kind="tmp", suffix=f".{purpose}"))
    os.mkdir(folder, 0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_orphans(parent: str) -> None:
    for orphan in orphans(parent):
        if orphan.is_dir() and not orphan.is_symlink():
            shutil.rmtree(orphan, ignore_errors=True)


def upload(local: str, uri: str) -> None:
    """The local file `local` as the object `uri`: uploaded under a temporary hidden key beside it,
    then moved into place by the store."""
    size = os.path.getsize(local)

    def send(sink: Any) -> None:
        with open(local, "rb") as fp:
            shutil.copyfileobj(fp, sink, _COPY_BUFFER)

    _publish(uri, send, size)


def write_bytes(uri: str, data: bytes) -> None:
    """`data` as the object `uri`, as `upload` writes a file."""
    _publish(uri, lambda sink: sink.write(data), len(data))


def _publish(uri: str, send: Callable[[Any], object], size: int) -> None:
    """Write an object under a hidden temporary key beside `uri` (`send` writes its bytes to the
    stream), then move it to `uri`; the temporary key is deleted if anything fails."""
    folder = uri.rpartition("/")[0]
    staged = f"{folder}/{temporary_name(kind='tmp')}"

    def write() -> None:
        with store().open_output_stream(object_path(staged), metadata={}) as sink:
            send(sink)

    with store_errors(uri):
        try:
            _transfer(write, uri, size)
            _request(lambda: store().move(object_path(staged), object_path(uri)), uri)
        except BaseException:
            with contextlib.suppress(Exception):  # best effort: a signal's exit must not wait on it
                bounded.call(lambda: store().delete_file(object_path(staged)), staged, 5.0)
            raise


def delete(uris: list[str]) -> None:
    for uri in uris:
        with store_errors(uri):
            _request(functools.partial(store().delete_file, object_path(uri)), uri)


def check_bucket(uri: str) -> None:
    """ObjectStoreError, before any work, when the bucket of `uri` is missing or may not be listed."""
    bucket, _ = split(uri)
    from pyarrow import fs

    with store_errors(f"{SCHEME}{bucket}"):
        found = _request(lambda: store().get_file_info(bucket), f"{SCHEME}{bucket}")
    if found.type == fs.FileType.NotFound:
        raise ObjectStoreError(f"{SCHEME}{bucket}: no such bucket")
