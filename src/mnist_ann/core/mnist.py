"""MNIST's format as the model sees it, with numpy only: the image shape, the ten classes, and
`preprocess`, the one function that turns images into model input for training and inference alike."""

from __future__ import annotations

import numpy as np

from .errors import DataError

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)
NUM_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


def preprocess(images: np.ndarray) -> np.ndarray:
    """Images (N, 28, 28) or (N, 784) -> float32 (N, 784) in [0, 1], as the model expects.

    Integer pixels must be 0-255 and are divided by 255 in float32, exactly as the seed's
    `tf.cast(x, tf.float32) / 255.`; float pixels must already be in [0, 1]; bool pixels are a mask
    of the ink (True is full ink, 1.0; read as the integer 1 it would be 1/255, all but blank).
    """
    if images.ndim not in (2, 3) or images.shape[1:] not in (IMAGE_SHAPE, (NUM_PIXELS,)):
        raise DataError(f"images must have shape (N, 28, 28) or (N, 784), got {images.shape}")
    flat = images.reshape(len(images), NUM_PIXELS)
    if flat.dtype == np.bool_:
        return flat.astype(np.float32)
    if np.issubdtype(flat.dtype, np.integer):
        if flat.dtype != np.uint8 and flat.size and (flat.min() < 0 or flat.max() > 255):
            raise DataError(f"integer pixels must be 0-255, got {flat.min()}..{flat.max()}")
        pixels = flat.astype(np.float32)
        pixels /= np.float32(255)  # in place: a second (N, 784) float32 array cost as much as the division
        return pixels
    if np.issubdtype(flat.dtype, np.floating):
        flat = flat.astype(np.float32, copy=False)
        if not np.isfinite(flat).all():
            raise DataError("float pixels must be finite, found NaN or inf")
        if flat.size and (flat.min() < 0 or flat.max() > 1):
            raise DataError(f"float pixels must be in [0, 1], got {flat.min():g}..{flat.max():g}")
        return flat
    raise DataError(f"pixels must be integers 0-255 or floats 0-1, got dtype {flat.dtype}")
