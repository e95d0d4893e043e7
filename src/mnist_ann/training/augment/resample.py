"""Bilinear resampling of many small images, each through its own affine map, in numpy: the one
costly step of augmentation (distortions.py), so written for speed."""

from __future__ import annotations

import numpy as np

SIDE = 28  # MNIST's digits are SIDE x SIDE

# Each output pixel's (column, row) offset from the centre, and 1: the source position of every
# pixel of every image in a chunk is then one matrix product, (2n, 3) maps @ this (3, 784).
_GRID = np.stack([*(np.mgrid[0:SIDE, 0:SIDE][::-1].reshape(2, -1) - (SIDE - 1) / 2), np.ones(SIDE * SIDE)])
_GRID = _GRID.astype(np.float32)
_PADDED = SIDE + 3  # one black pixel before, two after: every clipped neighbour lands on black


class Workspace:
    """One thread's buffers for a chunk of `size` images, reused chunk after chunk: allocating them
    afresh costs more than the arithmetic (each new large array is new pages for the kernel to map)."""

    def __init__(self, size: int):
        pixels = SIDE * SIDE
        self.position = np.empty((2 * size, pixels), np.float32)
        self.corner = np.empty((2 * size, pixels), np.float32)
        self.index = np.empty((size, pixels), np.intp)
        self.padded = np.zeros((size, _PADDED, _PADDED), np.float32)  # its border stays black
        self.taken = [np.empty((size, pixels), np.float32) for _ in range(4)]
        self.noise = np.empty((size, pixels), np.float32)
        self.base = np.arange(size, dtype=np.float32)[:, None] * _PADDED**2  # where each image starts


def warp(images: np.ndarray, inverse: np.ndarray, offset: np.ndarray, space: Workspace) -> np.ndarray:
    """Each image (n, 784) resampled (bilinear) through its own affine map, outside it black;
    (n, 28, 28), in `space`'s buffers.

    Written for speed, as the whole epoch goes through it: positions from one matrix product, in
    the padded frame; index arithmetic in float32 (exact: a chunk has fewer than 2^24 pixels);
    each neighbour gathered from the flat chunk shifted by its step, so no second index."""
    n = len(images)
    maps = np.concatenate([inverse, offset[:, :, None] + 1], axis=2).reshape(2 * n, 3)  # +1: the padding
    position = np.matmul(maps, _GRID, out=space.position[: 2 * n])  # rows: image 0's columns, its rows, ...
    np.clip(position, 0, SIDE + 1, out=position)
    corner = np.floor(position, out=space.corner[: 2 * n])
    fraction = np.subtract(position, corner, out=position).reshape(n, 2, -1)
    corner = corner.reshape(n, 2, -1)
    flat_index = corner[:, 1]  # rows, then (in place) the flat index of each upper-left neighbour
    flat_index *= _PADDED
    flat_index += corner[:, 0]
    flat_index += space.base[:n]
    index = space.index[:n]
    index[...] = flat_index
    space.padded[:n, 1 : SIDE + 1, 1 : SIDE + 1] = images.reshape(n, SIDE, SIDE)
    flat = space.padded[:n].ravel()
    taken = [buffer[:n] for buffer in space.taken]
    for buffer, step in zip(taken, (0, 1, _PADDED, _PADDED + 1)):
        # mode "clip": without it numpy buffers `out`; the indices are in range anyway
        np.take(flat[step:], index, out=buffer, mode="clip")
    upper_left, upper_right, lower_left, lower_right = taken
    for left, right in ((upper_left, upper_right), (lower_left, lower_right)):
        right -= left
        right *= fraction[:, 0]
        left += right
    lower_left -= upper_left
    lower_left *= fraction[:, 1]
    upper_left += lower_left
    return upper_left.reshape(n, SIDE, SIDE)
