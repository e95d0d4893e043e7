"""Bench row 1c: what train.augment costs per epoch. Fits the seed's network on the full training
set for a few epochs, plain and with every distortion of `make robust`, taking turns, and prints
the median seconds per epoch of each and of the distortion alone, as JSON.

Usage: augmented_epoch.py DATA_DIR REPEATS"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from mnist_ann.training.harness import start_keras

start_keras()

from mnist_ann.training import model as ann  # noqa: E402
from mnist_ann.training.augment import Distortions, distort, epoch_distorter  # noqa: E402
from mnist_ann.training.data import load_split  # noqa: E402

EPOCHS = 3
ROBUST = Distortions(rotation=20, scale=0.3, shear=15, shift=3, stroke=0.6, blur=0.3, noise=30)  # `make robust`'s


def per_epoch(training, validation, distorter) -> float:
    ann.make_deterministic(42)
    model = ann.build_model(
        hidden_units=(256, 128, 64, 32), activation="relu", optimizer="adam", learning_rate=0.01,
        loss="categorical_crossentropy",
    )  # fmt: skip
    started = time.perf_counter()
    ann.fit(model, training, validation, batch_size=128, epochs=EPOCHS, validation_freq=1, distort=distorter, seed=42)
    return (time.perf_counter() - started) / EPOCHS


def main() -> None:
    data, repeats = sys.argv[1], int(sys.argv[2])
    training, validation = load_split(data, "train"), load_split(data, "test")
    plain, augmented, alone = [], [], []
    for _ in range(repeats):
        plain.append(per_epoch(training, validation, None))
        augmented.append(per_epoch(training, validation, epoch_distorter(ROBUST, 42)))
        started = time.perf_counter()
        distort(training[0], ROBUST, seed=42, epoch=0, order=np.random.default_rng(0).permutation(len(training[0])))
        alone.append(time.perf_counter() - started)
    median = {
        name: round(statistics.median(v), 2)
        for name, v in (("plain", plain), ("augmented", augmented), ("distortion_alone", alone))
    }
    print(
        json.dumps(
            {**median, "ratio": round(statistics.median(augmented) / statistics.median(plain), 2), "runs": repeats}
        )
    )


if __name__ == "__main__":
    main()
