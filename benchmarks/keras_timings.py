"""Keras's side of `make bench`, run as its own process (it imports TensorFlow): throughput of
`model.predict` on an array file, and the latency of one image through `model(x)` and
`model.predict(x)`. Prints one JSON object."""

import json
import statistics
import sys
import time

from mnist_ann.core.mnist import preprocess
from mnist_ann.core.npy import load_npy
from mnist_ann.training.model import load_model

model_path, images_path = sys.argv[1], sys.argv[2]
model = load_model(model_path)
x = preprocess(load_npy(images_path))


def images_per_second(batch_size):
    model.predict(x[:10000], batch_size=batch_size, verbose=0)  # warm-up: tracing
    started = time.perf_counter()
    model.predict(x, batch_size=batch_size, verbose=0)
    return len(x) / (time.perf_counter() - started)


def median_seconds(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


one = x[:1]
print(
    json.dumps(
        {
            "predict_images_per_s": images_per_second(None),  # Keras's default batch (32), as users call it
            "predict_batch_10k_images_per_s": images_per_second(10000),
            "call_latency_ms": 1000 * median_seconds(lambda: model(one, training=False), 200),
            "predict_latency_ms": 1000 * median_seconds(lambda: model.predict(one, verbose=0), 50),
        }
    )
)
