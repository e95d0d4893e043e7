"""The distorted epochs as `model.fit` reads them: one tf.data stream for all epochs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf


def distorted_epochs(
    images: np.ndarray, labels: np.ndarray, *, epochs: int, batch_size: int, distort: Callable, seed: int
):
    """A tf.data stream of every epoch's batches: `distort(images, epoch, order)`, `order` the
    epoch's shuffle drawn from (seed, epoch).

    One `fit` call reads it for all epochs, so the training function is traced once (a `fit` per
    epoch on fresh arrays measured about 1 s per epoch slower: a retrace and a re-adapted dataset).
    An epoch's images are made when its first batch is asked for, with nothing prefetched: on two
    cores TensorFlow's threads keep both busy, and overlapping measured slower than taking turns."""

    def make_epoch(epoch):
        epoch = int(epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(images))
        return distort(images, epoch, order), labels[order]

    def batches(epoch):
        kinds = (tf.float32, tf.as_dtype(labels.dtype))  # one-hot floats, or int digits (sparse loss)
        x, y = tf.numpy_function(make_epoch, [epoch], kinds, stateful=False)
        x.set_shape(images.shape)  # numpy_function forgets shapes; Keras needs them to build
        y.set_shape(labels.shape)
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    stream = tf.data.Dataset.range(epochs).flat_map(batches)
    options = tf.data.Options()
    options.autotune.enabled = False  # no prefetching thread making the next epoch meanwhile
    options.deterministic = True
    return stream.with_options(options)
