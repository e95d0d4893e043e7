"""Image files as 28x28 MNIST-style digits (light on dark), with Pillow and numpy only: any mode
Pillow reads, decoded one worker's share at a time, then prepared by `framing` (the background
decided or given, MNIST's framing or a plain resize). A file that cannot be decoded, or that holds
no digit (blank, or ink nearly everywhere), is reported as that file's error; the others go on.

Any mode Pillow reads becomes 8-bit grey (modes.py); animated images give their first frame. A
decompression bomb (more pixels than Pillow's limit) is an error, not a warning. An 8-bit grey PNG, MNIST's own kind,
takes a shorter road to the same pixels (`plain_png`).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from ....core.files import EMPTY_FILE, unreadable_reason
from ....core.framing import BLANK, prepare_counted, prepare_numbers
from ....core.mnist import IMAGE_SHAPE
from ... import objects
from ...errors import InputError
from .heap import keep_freed_memory
from .modes import as_grey
from .plain_png import read_plain_grey_pngs
from .preparation import Preparation

# Decoded images wait, grouped by size, to be prepared together. Once this many pixels wait, in all
# sizes (16 MB as float32; 5,350 MNIST-size digits, more than a task has), they are prepared at once,
# so a task's memory is bounded by this and by its largest image, not by the sum of its images: eight
# 107 KB PNGs of 6000x6000 held 4.5 GB, and a task of 256 such files would have exhausted any machine.
PENDING_PIXELS = 1 << 22


class Decoded(NamedTuple):
    """What decoding gives, in the order of the inputs: the digits, the positions that gave one (a
    number: its digits), how each was prepared, (name, reason) for those that failed, and for
    numbers (--digits many) how many digits each scored position gave, one after the other in
    `digits`; None when each gave one."""

    digits: np.ndarray
    ok: list[int]
    prepared: list[str]
    failed: list[tuple[str, str]]
    counts: list[int] | None = None


@contextlib.contextmanager
def _bombs_are_errors() -> Iterator[None]:
    """A context in which Pillow's DecompressionBombWarning is raised, not printed. Entered once
    per batch of images: per image it would cost a tenth of a decode."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _readable_source(path: str) -> str | io.BytesIO:
    """What Pillow opens for `path`: the path of a local file fit to read, or an object's bytes."""
    if objects.is_object(path):
        source = objects.read_image(path)
        if not source.getbuffer().nbytes:
            raise InputError(EMPTY_FILE)
        return source
    reason = unreadable_reason(path)
    if reason:
        raise InputError(reason)
    return path


def _decode(path: str, background: str) -> np.ndarray:
    """One image file as a float32 grey image (0-255); call inside `_bombs_are_errors()`."""
    from PIL import Image, UnidentifiedImageError

    source = _readable_source(path)
    try:
        with Image.open(source) as opened:
            if getattr(opened, "n_frames", 1) > 1:
                opened.seek(0)
            image = _upright(opened)
            if image.mode == "L":  # MNIST's own mode: the bytes as they are (np.asarray takes 15% longer)
                image.load()
                return np.frombuffer(image.tobytes(), np.uint8).reshape(image.height, image.width).astype(np.float32)
            return np.asarray(as_grey(image, background), dtype=np.float32)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"refused as a decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged data
        raise InputError(f"damaged image: {exc}") from None
    except Exception as exc:  # Pillow's decoders raise many other kinds on hostile data: still this file's fault
        raise InputError(f"damaged image: {type(exc).__name__}: {exc}") from None


def _upright(image):
    """The picture as viewers show it: phones store a photo taken sideways as the sensor saw it,
    with an EXIF Orientation tag (6: turn 90 degrees clockwise). Files without EXIF pay nothing."""
    from PIL import ImageOps

    if "exif" not in image.info and image.format not in ("TIFF", "MPO"):
        return image
    return ImageOps.exif_transpose(image)


def decode_images(paths: Sequence[str], preparation: Preparation) -> Decoded:
    """Decode and prepare many image files (one worker's share): the digits, the positions in
    `paths` that gave one, what was applied to each (`<frame>/<background>`, e.g. mnist/light), and
    (path, reason) for those that did not, all in the order of `paths`."""
    keep_freed_memory()  # the next task reuses this one's arrays (heap.py)
    with _bombs_are_errors():
        greys = (
            plain if plain is not None else _decoded(path, preparation.background)
            for path, plain in zip(paths, read_plain_grey_pngs(paths))
        )
        return _prepared_in_order(paths, greys, preparation)


def prepare_pil_images(images: Sequence, preparation: Preparation, names: Sequence[str]) -> Decoded:
    """decode_images for images already open in Pillow (the Python API's), `names[i]` naming image i."""
    with _bombs_are_errors():
        return _prepared_in_order(names, (_as_grey(image, preparation.background) for image in images), preparation)


def _decoded(path: str, background: str) -> np.ndarray | str:
    """One image file as a float32 grey image, or the reason it cannot be."""
    try:
        return _decode(path, background)
    except InputError as exc:
        return str(exc)


def _as_grey(image, background: str) -> np.ndarray | str:
    try:
        return np.asarray(as_grey(image, background), dtype=np.float32)
    except (OSError, ValueError) as exc:
        return f"cannot read the image: {exc}"


def _prepared_in_order(names: Sequence[str], greys: Iterator[np.ndarray | str], preparation: Preparation) -> Decoded:
    """Each grey image (or the reason there is none) prepared, images of one size together, with no
    more than PENDING_PIXELS waiting; the outcome as decode_images gives it, in the order of `names`."""
    outcomes: dict[int, tuple[np.ndarray, str] | str] = {}  # position -> (digit(s), applied) or a reason
    # Images of one size are prepared together: a folder of 28x28 PNGs costs a few numpy calls a task.
    by_shape: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    waiting = 0  # pixels in by_shape
    for position, grey in enumerate(greys):
        if not isinstance(grey, str) and not grey.size:  # a 0x0 image: Pillow opens no such file, but makes one
            grey = f"empty image: {grey.shape[1]}x{grey.shape[0]} pixels"
        if isinstance(grey, str):
            outcomes[position] = grey
            continue
        by_shape.setdefault(grey.shape, []).append((position, grey))
        waiting += grey.size
        if waiting >= PENDING_PIXELS:
            outcomes.update(_prepared_by_shape(by_shape, preparation))
            waiting = 0
    outcomes.update(_prepared_by_shape(by_shape, preparation))
    done = [(position, outcomes[position]) for position in sorted(outcomes)]
    scored = [(position, outcome) for position, outcome in done if not isinstance(outcome, str)]
    failed = [(names[position], outcome) for position, outcome in done if isinstance(outcome, str)]
    positions, applied = [position for position, _ in scored], [how for _, (_, how) in scored]
    if preparation.numbers:  # each a (k, 28, 28) stack of a number's digits
        digits = np.concatenate([number for _, (number, _) in scored]) if scored else _NO_DIGITS
        return Decoded(digits, positions, applied, failed, [len(number) for _, (number, _) in scored])
    digits = np.stack([digit for _, (digit, _) in scored]) if scored else _NO_DIGITS
    return Decoded(digits, positions, applied, failed)


_NO_DIGITS = np.empty((0, *IMAGE_SHAPE), np.uint8)
NO_DIGIT = f"{BLANK}: no digit-sized mark in it"  # a number's picture whose marks are all too small


def _prepared_by_shape(
    by_shape: dict[tuple[int, int], list[tuple[int, np.ndarray]]], preparation: Preparation
) -> dict[int, tuple[np.ndarray, str] | str]:
    """Every group of `by_shape` prepared, each as one stack, and taken out of it (its pixels freed
    as it goes): position -> (digit, applied) or a reason."""
    outcomes = {}
    while by_shape:
        outcomes.update(_prepared(by_shape.popitem()[1], preparation))
    return outcomes


def _prepared(
    members: list[tuple[int, np.ndarray]], preparation: Preparation
) -> dict[int, tuple[np.ndarray, str] | str]:
    """Same-size (position, grey) pairs prepared as one stack: position -> (digit, applied) or a reason."""
    # One image (a large one is prepared alone) needs no stacked copy of Pillow's float32 pixels.
    if len(members) == 1:
        greys = members[0][1].astype(np.float32, copy=False)[None]
    else:
        greys = np.stack([grey for _, grey in members], dtype=np.float32)
    if preparation.numbers:
        numbers, light, reasons = prepare_numbers(greys, preparation.background)
        outcomes: dict[int, tuple[np.ndarray, str] | str] = {}
        for (position, _), number, is_light, reason in zip(members, numbers, light, reasons):
            if reason is None and not len(number):
                reason = NO_DIGIT
            outcomes[position] = reason if reason is not None else (number, preparation.label(is_light))
        return outcomes
    digits, light, reasons, marks = prepare_counted(greys, preparation.background, preparation.frame)
    return {
        position: reason if reason is not None else (digit, preparation.label(is_light, count))
        for (position, _), digit, is_light, reason, count in zip(members, digits, light, reasons, marks)
    }
