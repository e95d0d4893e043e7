"""The commonest digit file, an 8-bit grey PNG that is not interlaced (what Pillow, OpenCV and MNIST
exporters write), read many at a time for about a fifth of what `Image.open` costs per file.

`Image.open` and `load` take ~100 us per 28x28 file, most of it Python (plugin lookup, chunk
parsing, the tile loop, `tobytes`) around a few microseconds of decoding. Here each file is read in
one system call, its chunks are walked and checksummed with `struct` and `zlib`, and its pixel rows
inflated with `zlib`.
The rows of all the files of one size are then stacked, a row of zeros between two files, and go
through Pillow's own PNG row decoder (`zip`) once. The row of zeros is what PNG's filters assume
above a file's first row, so each file decodes as it would alone: the grey values are Pillow's.

A file that is anything else, or anything odd (a bad checksum, a critical chunk a grey PNG does
not have, an animation, a bad filter byte, too little data, more than `MOST_BYTES` or `MOST_PIXELS`,
more pixels than Pillow's bomb limit), is left out (None), and the caller takes Pillow's whole path for it, which
decides what the file is and words the error.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from ....core.files import size_reason

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MOST_BYTES = 1 << 16  # a 28x28 digit is ~300 bytes; a larger file is rare here, and Pillow streams it
MOST_PIXELS = 1 << 16  # 256x256: 64 KiB of zeros can inflate to 66 MB, and a task joins 256 files' rows
GREY_8_BIT = (8, 0, 0, 0, 0)  # IHDR's bit depth, colour type (grey), compression, filter method, interlace
ANIMATION_CHUNKS = {b"acTL", b"fcTL", b"fdAT"}  # APNG: which frame is shown is Pillow's business
FILTER_TYPES = 5  # PNG's row filters: none, sub, up, average, Paeth

_CHUNK_HEAD = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")

Size = tuple[int, int]  # (width, height)


def read_plain_grey_pngs(paths: Sequence[str]) -> list[np.ndarray | None]:
    """Per path, the file's pixels as a (height, width) uint8 array, or None where Pillow must
    decide (not a plain grey PNG, or damaged)."""
    from PIL import Image

    most_pixels = min(MOST_PIXELS, Image.MAX_IMAGE_PIXELS or MOST_PIXELS)  # None: Pillow's bomb check is off
    rows_by_size: dict[Size, list[tuple[int, bytes]]] = {}
    for position, path in enumerate(paths):
        found = _filtered_rows(path, most_pixels) if path[-4:].lower() == ".png" else None
        if found is not None:
            rows_by_size.setdefault(found[0], []).append((position, found[1]))
    pixels: list[np.ndarray | None] = [None] * len(paths)
    for (width, height), members in rows_by_size.items():
        for (position, _), image in zip(members, _unfiltered(width, height, [rows for _, rows in members])):
            pixels[position] = image
    return pixels


def _filtered_rows(path: str, most_pixels: int) -> tuple[Size, bytes] | None:
    """A plain grey PNG's size and its inflated rows, each a filter byte then `width` bytes."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            if size_reason(os.fstat(descriptor)):  # the general decoder says why, in the error row
                return None
            data = os.read(descriptor, MOST_BYTES + 1)
        finally:
            os.close(descriptor)
    except OSError:
        return None
    if len(data) > MOST_BYTES or not data.startswith(SIGNATURE):
        return None
    found = _image_data(data)
    if found is None:
        return None
    (width, height), compressed = found
    if width == 0 or height == 0 or width * height > most_pixels:
        return None
    expected = height * (width + 1)
    try:  # at most what the image holds: a zlib bomb inflates no further
        rows = zlib.decompressobj().decompress(compressed, expected)
    except zlib.error:
        return None
    if len(rows) < expected or max(rows[:: width + 1]) >= FILTER_TYPES:
        return None
    return (width, height), rows


def _unfiltered(width: int, height: int, filtered: list[bytes]) -> np.ndarray | list[None]:
    """Many files' rows of one size through Pillow's PNG row decoder at once, as (n, height,
    width) uint8; all None if Pillow refuses them, which the checks above should make impossible."""
    from PIL import Image

    blank = bytes(width + 1)  # filter "none", all zeros: what the next file's first row sees above it
    stacked = blank.join(filtered) + blank
    try:  # the `zip` decoder inflates first: store, do not compress again (level 0)
        image = Image.frombytes("L", (width, len(filtered) * (height + 1)), zlib.compress(stacked, 0), "zip", "L")
    except ValueError:
        return [None] * len(filtered)
    return np.frombuffer(image.tobytes(), np.uint8).reshape(len(filtered), height + 1, width)[:, :height]


def _image_data(data: bytes) -> tuple[Size, bytes] | None:
    """(width, height) and the joined IDAT chunks of a well-formed 8-bit grey PNG, else None."""
    size, position, previous = None, len(SIGNATURE), b""
    compressed: list[bytes] = []
    while position + _CHUNK_HEAD.size <= len(data):
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        body = position + _CHUNK_HEAD.size
        end = body + length
        if end + 4 > len(data) or zlib.crc32(data[position + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            return None
        if size is None:  # IHDR must come first
            if kind != b"IHDR" or length != _IHDR.size:
                return None
            width, height, *layout = _IHDR.unpack_from(data, body)
            if tuple(layout) != GREY_8_BIT:
                return None
            size = (width, height)
        elif kind == b"IDAT":
            if compressed and previous != b"IDAT":  # split by another chunk: Pillow stops at the first part
                return None
            compressed.append(data[body:end])
        elif kind == b"IEND":
            return (size, b"".join(compressed)) if compressed else None
        elif kind[0] < ord("a") or kind in ANIMATION_CHUNKS:  # a critical chunk grey PNGs do not have
            return None
        position, previous = end + 4, kind
    return None  # no IEND: truncated
