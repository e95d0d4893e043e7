"""Distortions of the training digits, drawn afresh each epoch (train.augment; issue 24).

distortions  what each distortion does and its random draws, per (seed, epoch); `distort`
resample     each image resampled through its own affine map, vectorised
stream       the distorted epochs as one tf.data stream for `model.fit` (imports TensorFlow)
"""

from .distortions import CHUNK, Distortions, distort, epoch_distorter

__all__ = ["CHUNK", "Distortions", "distort", "epoch_distorter"]
