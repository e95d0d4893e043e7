"""Any mode Pillow reads, as 8-bit grey: 16-bit and 32-bit grey scaled to 8 bits, float grey in
[0, 1] or [0, 255] likewise; CIELab by its lightness; colour as luminance (ITU-R 601); palette
images through their palette. Transparent pixels become the background: the ground the opaque
pixels stand out from (white under dark ink, black under light ink; with `--background dark` or
`light`, that ground)."""

from __future__ import annotations

import numpy as np

from ...errors import InputError


def as_grey(image, background: str):
    """`image` (a Pillow image of any mode) as 8-bit grey (mode L)."""
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":  # 16/32-bit integer or float grey
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputError("a float image with NaN or infinite pixels")
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0  # a float image in [0, 1], as scientific tools write them
        return Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8), "L")
    if image.mode == "LAB":  # CIELab (TIFF): its L is the lightness; Pillow converts LAB to nothing else
        return image.getchannel("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        ground = _ground_under(rgba, background)
        canvas = Image.new("RGBA", rgba.size, (ground, ground, ground, 255))
        return Image.alpha_composite(canvas, rgba).convert("L")
    return image.convert("L")


def _ground_under(rgba, background: str) -> int:
    """The grey that transparent pixels become: the given background, or (auto) the one the
    opaque pixels stand out from."""
    if background != "auto":
        return 255 if background == "light" else 0
    pixels = np.asarray(rgba, dtype=np.float32)
    opaque = pixels[..., 3] > 127
    if not opaque.any():
        return 0
    luminance = pixels[..., :3][opaque] @ np.array([0.299, 0.587, 0.114], np.float32)
    return 255 if luminance.mean() < 128 else 0
