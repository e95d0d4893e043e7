"""Inputs and outputs of `mnist-ann predict` on S3-compatible object stores (`s3://bucket/key`),
through pyarrow's S3 filesystem, set up from the settings AWS's own tools read: the endpoint from
AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (pyarrow reads neither itself: apache/arrow#49643), the
region from AWS_REGION, else AWS_DEFAULT_REGION, and the credentials from pyarrow's AWS chain (the
environment, ~/.aws, the instance's role).

A prefix is listed in pages of a thousand keys, sizes included (ListObjectsV2): no object is asked
about one by one. An object is written whole or not at all (one PUT, or a multipart upload that is
completed only when its stream closes), so a shard that a worker was writing when it died is absent,
not short. Every request to the store is bounded (CONNECT_TIMEOUT_S, STALL_TIMEOUT_S, ATTEMPTS).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from ..core.errors import DataError
from ..core.npy import check_npy_header
from .errors import InputError, ObjectStoreError

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
            found = store().get_file_info(f"{bucket}/{key}")
            if found.type == fs.FileType.File:
                return [(uri, found.size)]
        selector = fs.FileSelector(f"{bucket}/{key}", recursive=True, allow_not_found=True)
        listed = [] if found is not None and found.type == fs.FileType.NotFound else store().get_file_info(selector)
    if not listed:
        check_bucket(uri)  # nothing found: a missing bucket is the whole run's error, not this input's
    base = len(bucket) + 1 + len(key.rstrip("/")) + (1 if key.strip("/") else 0)
    files = []
    for info in listed:
        below = info.path[base:].split("/")
        if info.type == fs.FileType.File and (hidden or not any(part.startswith(".") for part in below)):
            files.append((below, f"{SCHEME}{info.path}", info.size))
    return [(name, size) for _, name, size in sorted(files)]


def read_image(uri: str) -> io.BytesIO:
    """An image object's bytes, for Pillow; InputError for one that cannot be read or is too large."""
    with store_errors(uri, InputError), store().open_input_file(object_path(uri)) as stream:
        if stream.size() > MAX_IMAGE_BYTES:
            raise InputError(f"{stream.size()} bytes: larger than the {MAX_IMAGE_BYTES >> 20} MiB an image may be")
        return io.BytesIO(stream.read())


@contextlib.contextmanager
def local_file(name: str, kind: str | None = None) -> Iterator[str]:
    """`name` itself for a local file; for an object, a temporary local copy (an array file, then
    read in place as local ones are), removed when the block ends, named by _local_name."""
    if not is_object(name):
        yield name
        return
    uri = name
    with tempfile.TemporaryDirectory(prefix="mnist-ann-object-") as folder:
        copy = os.path.join(folder, _local_name(uri))
        with store_errors(uri, InputError):
            with store().open_input_file(object_path(uri)) as head:
                _check_before_copy(head, uri, folder, kind)
            # The copy as it always was: pyarrow's input stream (which also undoes a .gz object's
            # compression, as the IDX reader expects of a `.gz` copy).
            with store().open_input_stream(object_path(uri)) as source, open(copy, "wb") as fp:
                shutil.copyfileobj(source, fp, _COPY_BUFFER)
        yield copy


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
        head = io.BytesIO(source.read_at(min(size, NPY_HEADER_BYTES), 0))
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
    with tempfile.TemporaryDirectory(prefix="mnist-ann-upload-") as folder:
        local = os.path.join(folder, _local_name(uri))
        yield local
        upload(local, uri)


def upload(local: str, uri: str) -> None:
    with store_errors(uri), open(local, "rb") as fp, store().open_output_stream(object_path(uri), metadata={}) as sink:
        shutil.copyfileobj(fp, sink, _COPY_BUFFER)


def write_bytes(uri: str, data: bytes) -> None:
    with store_errors(uri), store().open_output_stream(object_path(uri), metadata={}) as sink:
        sink.write(data)


def delete(uris: list[str]) -> None:
    for uri in uris:
        with store_errors(uri):
            store().delete_file(object_path(uri))


def check_bucket(uri: str) -> None:
    """ObjectStoreError, before any work, when the bucket of `uri` is missing or may not be listed."""
    bucket, _ = split(uri)
    from pyarrow import fs

    with store_errors(f"{SCHEME}{bucket}"):
        found = store().get_file_info(bucket)
    if found.type == fs.FileType.NotFound:
        raise ObjectStoreError(f"{SCHEME}{bucket}: no such bucket")
