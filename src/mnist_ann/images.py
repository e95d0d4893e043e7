"""Image files as 28x28 MNIST-style digits (white on black), with Pillow and numpy only: any mode
Pillow reads, decoded one worker's share at a time. A file that cannot be decoded is reported as
that file's error; the others go on.

Any mode Pillow reads: 16-bit grey is scaled to 8 bits; colour becomes luminance (ITU-R 601);
transparent pixels become the background (black, or white with `invert`); palette images use their
palette. Animated images: the first frame. Other sizes are resized to 28x28 with Pillow's Lanczos
filter (aspect ratio not kept). `invert` turns dark-on-light scans into light-on-dark. A
decompression bomb (more pixels than Pillow's limit) is an error, not a warning.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from .data import IMAGE_SHAPE
from .errors import InputError


@contextlib.contextmanager
def _bombs_are_errors() -> Iterator[None]:
    """A context in which Pillow's DecompressionBombWarning is raised, not printed. Entered once
    per batch of images: per image it would cost a tenth of a decode."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _decode(path: str, invert: bool) -> np.ndarray:
    """One image file as a uint8 28x28 digit; call inside `_bombs_are_errors()`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            grey = image if image.mode == "L" else _grey(image, background=255 if invert else 0)
            if grey.size != IMAGE_SHAPE[::-1]:
                grey = grey.resize(IMAGE_SHAPE[::-1], Image.Resampling.LANCZOS)
            digit = np.asarray(grey, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"refused as a decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged data
        raise InputError(f"damaged image: {exc}") from None
    except Exception as exc:  # Pillow's decoders raise many other kinds on hostile data: still this file's fault
        raise InputError(f"damaged image: {type(exc).__name__}: {exc}") from None
    return 255 - digit if invert else digit


def _grey(image, background: int):
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":  # 16/32-bit integer or float grey
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (background, background, background, 255))
        return Image.alpha_composite(canvas, rgba).convert("L")
    return image.convert("L")


def decode_images(paths: Sequence[str], invert: bool) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode many images (one worker's share): the digits, the positions in `paths` that
    decoded, and (path, reason) for those that did not."""
    digits, ok, failed = [], [], []
    with _bombs_are_errors():
        for position, path in enumerate(paths):
            try:
                digits.append(_decode(path, invert))
                ok.append(position)
            except InputError as exc:
                failed.append((path, str(exc)))
    stacked = np.stack(digits) if digits else np.empty((0, *IMAGE_SHAPE), np.uint8)
    return stacked, ok, failed
