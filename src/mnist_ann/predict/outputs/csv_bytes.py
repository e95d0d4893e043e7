"""CSV prediction rows as bytes, formatted with numpy a block at a time rather than value by value in
Python: for array inputs that is most of the work left once onnxruntime has scored the images."""

from __future__ import annotations

import numpy as np

from ...core.mnist import NUM_CLASSES

DECIMALS = 6
_SCALE = 10**DECIMALS
_DIGIT = np.uint8(ord("0"))


def fixed(values: np.ndarray) -> np.ndarray:
    """Numbers in [0, 1] as (n, 8) ASCII bytes `d.dddddd`."""
    scaled = np.rint(np.clip(values.astype(np.float64), 0, 1) * _SCALE).astype(np.int64)
    out = np.empty((len(values), DECIMALS + 2), np.uint8)
    out[:, 0] = _DIGIT + scaled // _SCALE
    out[:, 1] = ord(".")
    fraction = scaled % _SCALE
    for position in range(DECIMALS + 1, 1, -1):
        out[:, position] = _DIGIT + fraction % 10
        fraction //= 10
    return out


def numeric_columns(probabilities: np.ndarray, with_probabilities: bool, end: bytes) -> np.ndarray:
    """Each row's label, confidence and probabilities, then `end`, as an (n, width) byte matrix."""
    n = len(probabilities)
    comma = np.full((n, 1), ord(","), np.uint8)
    parts = [
        comma,
        (_DIGIT + probabilities.argmax(axis=1)).astype(np.uint8)[:, None],
        comma,
        fixed(probabilities.max(axis=1)),
    ]
    if with_probabilities:
        for digit in range(NUM_CLASSES):
            parts += [comma, fixed(probabilities[:, digit])]
    parts.append(np.broadcast_to(np.frombuffer(end, np.uint8), (n, len(end))))
    return np.concatenate(parts, axis=1)


def decimal(numbers: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers that all have `width` digits, as an (n, width) byte matrix."""
    out = np.empty((len(numbers), width), np.uint8)
    rest = numbers.astype(np.int64)
    for position in range(width - 1, -1, -1):
        out[:, position] = _DIGIT + rest % 10
        rest //= 10
    return out


def flags(values: np.ndarray, end: bytes) -> np.ndarray:
    """A column of booleans, `,1` or `,0` per row, then `end`, as an (n, 2 + len(end)) byte matrix."""
    out = np.empty((len(values), 2 + len(end)), np.uint8)
    out[:, 0] = ord(",")
    out[:, 1] = _DIGIT + values.astype(np.uint8)
    out[:, 2:] = np.frombuffer(end, np.uint8)
    return out
