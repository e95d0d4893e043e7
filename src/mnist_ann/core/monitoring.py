"""Watching what predict scores, without labels (issue 39): is a batch like the images the model was
checked on, and how many of its answers are likely right?

The exported model carries a reference (in its ONNX file's metadata, under METADATA_KEY), made by
the export stage from held-out MNIST test images the model was not trained on:

- a **temperature** that calibrates the model's probabilities (fitted by likelihood on those
  images): the mean calibrated top probability of a batch estimates its accuracy;
- the **top calibrated confidence** of those images, as quantiles per predicted digit;
- the **distance from MNIST's pixel space**: each image's residual after projection on the leading
  principal components of MNIST's training images (letters, turned digits and noise lie far from
  it), as quantiles per predicted digit.

Each scored image gets, per signal, its mid-rank `u` among the reference images of the digit it
was read as: under no drift u is uniform, whatever digits the batch holds (a batch of sevens is not
drift). A batch's shift for a signal is how far the mean of u sits below 1/2: 0 for a batch like
the reference, 1/2 when every image is beyond every reference image. The drift score is the larger
shift of the two. It is an alarm when it exceeds a threshold that falls with the batch's size,
threshold(n) (a batch of 100 one person wrote differs from MNIST's mix by chance far more than one
of 10,000: measured on MNIST's own batches, docs/predict.md), and is significant besides: at least
MIN_Z standard errors of a two-sample rank test, (1/2 - mean u) * sqrt(12 / (1/n + 1/m)) for n
images against m reference images. Everything a Watch holds is a sum, so the watches of several
processes (Ray actors) merge by addition.

numpy only: both families import it.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .mnist import NUM_CLASSES, NUM_PIXELS

METADATA_KEY = "mnist_ann.monitoring"  # the ONNX metadata entry holding a Reference as JSON
SIGNALS = ("confidence", "residual")  # low confidence, high residual: atypical
CONFIDENCE_BINS = 10  # the summary's histogram of calibrated top confidence, over [0, 1]
QUANTILE_DECIMALS = 6  # of the reference's quantiles, as stored, and of the values ranked among them
# The shift that is an alarm, by batch size: 0.26 at 100 images, 0.16 at 1,000, 0.13 at 10,000.
# Chosen on MNIST's own batches (the training set's and the held-out test half's, in their order,
# so with the runs of one writer's digits they hold): the largest shift seen was 0.246 in 650
# batches of 100 and 0.080 in 65 batches of 1,000.
THRESHOLD_FLOOR, THRESHOLD_SCALE = 0.12, 1.4
MIN_Z = 4.0  # and a shift this many standard errors from none: a handful of images is no evidence
# The signals are ranked (and the residual, a projection of 784 x 33 multiply-adds an image, an
# eighth of the network's, is measured) on every one of a batch's first FULLY_WATCHED images, then on
# every RESIDUAL_STRIDE-th: past a few thousand images the alarm's threshold is set by the shift, not
# by the number of images. The whole projection cost 36% of predict's time on an .npy of 100,000
# images, and ranking every image's confidence 3% more. The estimate, the counts and the histogram
# take in every image. By the image's
# place in the batch, so that the same images in the same order are the same sample whoever scores them;
# with --ray, by its place in its Ray task (tasks are cut from the inputs alone, so the sample is still
# the same on every run, whichever actor scores a task and however often Ray runs it again).
# Measured on 100,000 images of an .npy, whole runs in adjacent pairs: the first 2,000 and every
# 16th after cost 5.4% of predict's time, the first 1,000 and every 32nd 2.7%.
FULLY_WATCHED, RESIDUAL_STRIDE = 1000, 32


def in_sample(ordinals: np.ndarray) -> np.ndarray:
    """Which images, by their place in the batch (0, 1, ...), have their signals ranked."""
    return (ordinals < FULLY_WATCHED) | (ordinals % RESIDUAL_STRIDE == 0)


def threshold(images: int) -> float:
    """The drift score above which a batch of `images` is an alarm."""
    return THRESHOLD_FLOOR + THRESHOLD_SCALE / math.sqrt(images)


@dataclass(frozen=True)
class Reference:
    """What a batch is compared with (see the module's docstring)."""

    temperature: float
    mean: np.ndarray  # (784,) the reference images' mean pixels
    components: np.ndarray  # (784, k) leading principal components, orthonormal columns
    quantiles: dict[str, np.ndarray]  # by signal: (10, q) sorted values per predicted digit
    images: int  # m: how many reference images
    data: str  # which images, in words

    def signals(self, pixels: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        """Per image: the digit read, its calibrated top confidence and its residual."""
        digits = probabilities.argmax(axis=1)
        return {
            "digit": digits,
            "confidence": top_confidence(probabilities, self.temperature, digits),
            "residual": self.residuals(pixels),
        }

    def residuals(self, pixels: np.ndarray) -> np.ndarray:
        """Each image's distance from the reference's pixel space: the root mean square, over its
        pixels, of what projection on the components leaves. Float64 pixels are measured in float64
        throughout (the reference's own); float32 pixels (predict's) in float32 where it costs."""
        # |x - mean|^2 - |(x - mean) V|^2, without the (n, 784) array x - mean: one product of x with
        # [V | mean] gives x V and x . mean (this costs about a third of what centring did)
        product = pixels @ self._projection
        projected = product[:, :-1] - self._projected_mean
        squared = np.einsum("ij,ij->i", pixels, pixels) - 2 * product[:, -1] + self._mean_squared
        residual = squared - np.einsum("ij,ij->i", projected, projected)
        return np.sqrt(np.maximum(residual, 0) / NUM_PIXELS)

    @functools.cached_property
    def _projection(self) -> np.ndarray:
        return np.ascontiguousarray(np.column_stack([self.components, self.mean]), dtype=np.float32)

    # In float64: the export stage measures the reference's own residuals in float64 (see
    # watch_reference.py), and a float32 product's last bits depend on the BLAS kernel and threads.
    @functools.cached_property
    def _projected_mean(self) -> np.ndarray:
        return self.mean.astype(np.float64) @ self.components.astype(np.float64)

    @functools.cached_property
    def _mean_squared(self) -> float:
        mean = self.mean.astype(np.float64)
        return float(mean @ mean)

    def rank(self, name: str, values: np.ndarray, digits: np.ndarray) -> np.ndarray:
        """Each value's mid-rank u in [0, 1] among the reference values of signal `name` for the digit
        its image was read as (`digits`), oriented so that a small u is atypical (low confidence,
        high residual)."""
        # every digit's grid in one sorted array, each shifted past the one before: one search
        grids, offsets, (low, high) = self._shifted_grids[name]
        # as the grid was stored: a confidence of 0.99999994 ties with the grid's 1.0, not below it
        values = np.round(values, QUANTILE_DECIMALS)
        # a value past every grid ranks as the grid's end does: clipped, it stays in its digit's span
        shifted = np.clip(values, low - 0.5, high + 0.5) + offsets[digits]
        found = np.searchsorted(grids, shifted, "left") + np.searchsorted(grids, shifted, "right")
        width = self.quantiles[name].shape[1]
        u = (found - 2 * width * digits) / (2 * width)
        return u if name == "confidence" else 1 - u

    @functools.cached_property
    def _shifted_grids(self) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float]]]:
        shifted = {}
        for name in SIGNALS:
            grid = self.quantiles[name]
            low, high = float(grid.min()), float(grid.max())
            offsets = np.arange(NUM_CLASSES) * (high - low + 1.0) * 2 - low  # digit d's span from 2d(range + 1)
            shifted[name] = ((grid + offsets[:, None]).ravel(), offsets, (low, high))
        return shifted

    def to_json(self) -> str:
        return json.dumps(
            {
                "temperature": self.temperature,
                "mean": _packed(self.mean),
                "components": _packed(self.components),
                "quantiles": {name: self.quantiles[name].round(QUANTILE_DECIMALS).tolist() for name in SIGNALS},
                "images": self.images,
                "data": self.data,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Reference:
        """The Reference a model's metadata holds; ValueError naming what is wrong with it."""
        try:
            value = json.loads(text)
            components = _unpacked(value["components"])
            reference = cls(
                temperature=float(value["temperature"]),
                mean=_unpacked(value["mean"]).reshape(NUM_PIXELS),
                components=components.reshape(NUM_PIXELS, -1) if components.size else components,
                quantiles={name: np.asarray(value["quantiles"][name], np.float64) for name in SIGNALS},
                images=int(value["images"]),
                data=str(value["data"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the monitoring reference is not one this version reads ({exc})") from None
        shapes = {name: q.shape for name, q in reference.quantiles.items()}
        if any(len(s) != 2 or s[0] != NUM_CLASSES or s[1] < 2 for s in shapes.values()) or reference.images < 1:
            raise ValueError(f"the monitoring reference's quantiles have shapes {shapes}, not (10, q)")
        if not 0 < reference.temperature < 1e3:
            raise ValueError(f"the monitoring reference's temperature {reference.temperature} is out of range")
        return reference


def top_confidence(probabilities: np.ndarray, temperature: float, digits: np.ndarray) -> np.ndarray:
    """Each image's calibrated top probability (`digits`: the argmax of each row): calibrate's
    largest, p_max^(1/T) / sum p^(1/T) in float32, a sixth of calibrate's time (numpy's reductions
    along rows of ten are slow: the sum is a matrix product, the largest is picked)."""
    powered = np.power(np.maximum(probabilities, np.float32(1e-30), dtype=np.float32), np.float32(1 / temperature))
    return powered[np.arange(len(powered)), digits] / (powered @ np.ones(powered.shape[1], np.float32))


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their logits divided by `temperature`: softmax(log p / T)."""
    logits = np.log(np.clip(probabilities.astype(np.float64), 1e-30, 1)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class Watch:
    """What a batch looked like so far: sums only, so watches merge by addition."""

    reference: Reference
    images: int = 0
    digits: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.int64))
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(CONFIDENCE_BINS, np.int64))
    confidence_sum: float = 0.0
    rank_sums: np.ndarray = field(default_factory=lambda: np.zeros(len(SIGNALS)))  # sums of u
    sampled_images: int = 0  # of `images`, those whose signals were ranked (in_sample)

    def observe(self, pixels: np.ndarray, probabilities: np.ndarray) -> None:
        """Take in scored images, the batch's next: model-ready pixels (n, 784) and the model's
        probabilities. The residual is measured on the sampled ones only."""
        if not len(pixels):
            return
        sampled = in_sample(np.arange(self.images, self.images + len(pixels)))
        self.observe_signals(
            probabilities, self.reference.residuals(pixels[sampled]) if sampled.any() else np.empty(0), sampled
        )

    def observe_signals(self, probabilities: np.ndarray, residuals: np.ndarray, sampled: np.ndarray) -> None:
        """Take in the batch's next scored images by their probabilities, and the residuals of the
        `sampled` ones (a mask over them)."""
        reference, digits = self.reference, probabilities.argmax(axis=1)
        confidence = top_confidence(probabilities, reference.temperature, digits)
        self.images += len(digits)
        self.sampled_images += len(residuals)
        self.digits += np.bincount(digits, minlength=NUM_CLASSES)
        bins = np.minimum((confidence * CONFIDENCE_BINS).astype(int), CONFIDENCE_BINS - 1)
        self.histogram += np.bincount(bins, minlength=CONFIDENCE_BINS)
        self.confidence_sum += float(confidence.sum())
        self.rank_sums += [
            float(reference.rank("confidence", confidence[sampled], digits[sampled]).sum()),
            float(reference.rank("residual", residuals, digits[sampled]).sum()),
        ]

    def merge(self, other: Watch) -> None:
        self.images += other.images
        self.digits += other.digits
        self.histogram += other.histogram
        self.confidence_sum += other.confidence_sum
        self.rank_sums += other.rank_sums
        self.sampled_images += other.sampled_images

    def sums(self) -> dict[str, Any]:
        """What this watch took in, as JSON-ready numbers: how another process's watch sends them
        (a Ray actor's, for each task) to be merged with `merge_sums`."""
        return {
            "images": self.images,
            "sampled_images": self.sampled_images,
            "digits": self.digits.tolist(),
            "histogram": self.histogram.tolist(),
            "confidence_sum": self.confidence_sum,
            "rank_sums": self.rank_sums.tolist(),
        }

    def merge_sums(self, sums: dict[str, Any]) -> None:
        """Add another watch's `sums()` of the same reference to this one."""
        self.merge(
            Watch(
                self.reference,
                images=int(sums["images"]),
                sampled_images=int(sums["sampled_images"]),
                digits=np.asarray(sums["digits"], np.int64).reshape(NUM_CLASSES),
                histogram=np.asarray(sums["histogram"], np.int64).reshape(CONFIDENCE_BINS),
                confidence_sum=float(sums["confidence_sum"]),
                rank_sums=np.asarray(sums["rank_sums"], np.float64).reshape(len(SIGNALS)),
            )
        )

    def drift(self) -> dict[str, Any]:
        """The drift score, its threshold, its z, and whether it is an alarm; each signal's shift
        (see the module's docstring). Each signal counts the images it measured; the score and
        threshold shown are those of the signal nearest (or furthest past) its threshold."""
        counts = {"confidence": self.sampled_images, "residual": self.sampled_images}
        found = {}
        for i, name in enumerate(SIGNALS):
            n = counts[name]
            shift = 0.5 - self.rank_sums[i] / n if n else 0.0
            z = shift * math.sqrt(12 / (1 / n + 1 / self.reference.images)) if n else 0.0
            found[name] = (shift, threshold(n) if n else 0.5, z)
        shift, limit, z = max(found.values(), key=lambda f: f[0] - f[1])
        alarm = any(s > t and zz > MIN_Z for s, t, zz in found.values())
        return {
            "score": shift,
            "threshold": limit,
            "z": z,
            "alarm": alarm,
            "by_signal": {n: f[0] for n, f in found.items()},
        }

    def summary(self, model: dict[str, Any]) -> dict[str, Any]:
        """The batch's summary (monitor.json): `model` says which model scored it."""
        reference = {"data": self.reference.data, "images": self.reference.images}
        reference["temperature"] = round(self.reference.temperature, 4)
        found: dict[str, Any] = {"images": self.images, "model": model, "reference": reference}
        if not self.images:
            return {**found, "estimated_accuracy": None, "drift": None}
        drift = self.drift()
        found["estimated_accuracy"] = round(self.confidence_sum / self.images, 4)
        found["estimate_reliable"] = not drift["alarm"]  # calibrated on MNIST: under drift, a guess
        found["drift"] = {
            "score": round(float(drift["score"]), 4),
            "threshold": round(float(drift["threshold"]), 4),
            "alarm": bool(drift["alarm"]),
            "z": round(float(drift["z"]), 2),
            "by_signal": {name: round(float(v), 4) for name, v in drift["by_signal"].items()},
        }
        found["predicted_counts"] = {str(d): int(n) for d, n in enumerate(self.digits)}
        edges = [round(i / CONFIDENCE_BINS, 2) for i in range(CONFIDENCE_BINS + 1)]
        found["confidence_histogram"] = {"edges": edges, "counts": self.histogram.tolist()}
        return found


def _packed(array: np.ndarray) -> dict[str, Any]:
    """An array as JSON: float16 bytes in base64 (the components: 50 KB rather than 300 KB of text)."""
    data = np.ascontiguousarray(array, dtype="<f2")
    return {"shape": list(array.shape), "float16": base64.b64encode(data.tobytes()).decode()}


def _unpacked(value: dict[str, Any]) -> np.ndarray:
    shape = [int(n) for n in value["shape"]]
    data = np.frombuffer(base64.b64decode(value["float16"], validate=True), dtype="<f2")
    return data.astype(np.float32).reshape(shape)
