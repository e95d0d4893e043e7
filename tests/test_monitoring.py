"""core/monitoring.py: a batch compared with the reference its model carries. Ranks are uniform on
the reference's own kind of images whatever digits a batch holds, a shifted batch is an alarm, a
small batch needs a larger shift, watches merge by addition, and a reference that is not one is
refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_ann.core.monitoring import SIGNALS, Reference, Watch, calibrate, threshold

DIM = 784


def reference_of(pixels: np.ndarray, probabilities: np.ndarray, temperature: float = 1.0) -> Reference:
    """A reference made from these images as the export stage makes one (principal components of
    other images of the same kind, quantiles of these), small enough to build here."""
    rng = np.random.default_rng(99)
    others = _images(rng, 2000)
    mean = others.mean(axis=0)
    _, vectors = np.linalg.eigh((others - mean).T @ (others - mean))
    draft = Reference(temperature, mean, vectors[:, ::-1][:, :8].copy(), {}, len(pixels), "test")
    signals = draft.signals(pixels, probabilities)
    grid = np.linspace(0, 1, 101)
    quantiles = {
        name: np.stack([np.quantile(signals[name][signals["digit"] == d], grid) for d in range(10)]) for name in SIGNALS
    }
    return Reference(temperature, mean, draft.components, quantiles, len(pixels), "synthetic images")


def _images(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """Images near an 8-dimensional subspace (as MNIST's digits lie near a few dozen directions)."""
    basis = np.random.default_rng(5).normal(size=(8, DIM)) / np.sqrt(DIM)
    return (rng.normal(size=(n, 8)) @ basis * 3 + rng.normal(size=(n, DIM)) * (0.05 + shift)).astype(np.float32)


def _model(pixels: np.ndarray) -> np.ndarray:
    """Probabilities from the images' first coordinates: confident for some, unsure for others."""
    logits = pixels[:, :10] * 40
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def reference():
    pixels = _images(np.random.default_rng(1), 5000)
    return reference_of(pixels, _model(pixels))


def watched(reference: Reference, pixels: np.ndarray) -> Watch:
    watch = Watch(reference)
    watch.observe(pixels, _model(pixels))
    return watch


def test_a_batch_like_the_reference_is_no_alarm_whatever_digits_it_holds(reference):
    fresh = _images(np.random.default_rng(2), 4000)
    drift = watched(reference, fresh).drift()
    assert not drift["alarm"] and abs(drift["score"]) < 0.03, drift
    digits = _model(fresh).argmax(axis=1)
    ones = watched(reference, fresh[digits == 1]).drift()  # a batch of one digit is not drift
    assert not ones["alarm"] and ones["score"] < 0.08, ones


def test_a_shifted_batch_is_an_alarm_and_a_small_one_needs_a_larger_shift(reference):
    shifted = _images(np.random.default_rng(3), 1000, shift=0.05)
    drift = watched(reference, shifted).drift()
    assert drift["alarm"] and drift["by_signal"]["residual"] > 0.4, drift
    assert threshold(100) > threshold(1000) > threshold(10_000) > 0.12
    few = watched(reference, shifted[:5]).drift()  # 5 images: the largest shift is no evidence
    assert few["score"] > 0.4 and not few["alarm"], few


def test_watches_merge_by_addition(reference):
    pixels = _images(np.random.default_rng(4), 600, shift=0.01)
    whole, first, second = (
        watched(reference, pixels),
        watched(reference, pixels[:250]),
        watched(reference, pixels[250:]),
    )
    first.merge(second)
    assert first.images == whole.images == 600
    assert np.array_equal(first.digits, whole.digits) and np.array_equal(first.histogram, whole.histogram)
    assert first.rank_sums == pytest.approx(whole.rank_sums) and first.confidence_sum == pytest.approx(
        whole.confidence_sum
    )
    assert first.summary({"named": "m"}) == whole.summary({"named": "m"})


def test_the_summary_says_the_estimate_the_counts_and_the_histogram(reference):
    pixels = _images(np.random.default_rng(6), 300)
    summary = watched(reference, pixels).summary({"named": "model.onnx"})
    probabilities = _model(pixels)
    assert summary["images"] == 300 and summary["model"] == {"named": "model.onnx"}
    assert summary["estimated_accuracy"] == pytest.approx(probabilities.max(axis=1).mean(), abs=1e-4)
    assert sum(summary["predicted_counts"].values()) == 300 == sum(summary["confidence_histogram"]["counts"])
    assert summary["predicted_counts"]["3"] == int(np.count_nonzero(probabilities.argmax(axis=1) == 3))
    assert summary["drift"]["threshold"] == pytest.approx(threshold(300), abs=1e-4)
    assert summary["reference"]["data"] == "synthetic images" and summary["estimate_reliable"] is True
    assert Watch(reference).summary({})["drift"] is None  # nothing scored: nothing to say


def test_a_reference_survives_its_json_and_a_broken_one_is_refused_in_one_line(reference):
    again = Reference.from_json(reference.to_json())
    assert again.temperature == reference.temperature and again.images == reference.images
    assert np.allclose(again.components, reference.components, atol=2e-3)  # stored as float16
    assert all(np.allclose(again.quantiles[n], reference.quantiles[n], atol=1e-6) for n in SIGNALS)
    for broken in ("{", '{"temperature": 1}', reference.to_json().replace('"temperature": 1.0', '"temperature": -1')):
        with pytest.raises(ValueError) as raised:
            Reference.from_json(broken)
        assert "monitoring reference" in str(raised.value) and "\n" not in str(raised.value)


def test_calibration_divides_the_logits_by_the_temperature():
    probabilities = np.array([[0.7, 0.2, 0.1] + [0.0] * 7])
    assert calibrate(probabilities, 1.0)[0, :3] == pytest.approx([0.7, 0.2, 0.1])
    softened = calibrate(probabilities, 2.0)[0, :3]
    expected = np.sqrt([0.7, 0.2, 0.1]) / np.sqrt([0.7, 0.2, 0.1]).sum()
    assert softened == pytest.approx(expected, rel=1e-6)


def test_ranks_are_each_images_mid_rank_among_its_digits_reference_values(reference):
    """Checked against the definition, digit by digit, with values past either end of the grids."""
    rng = np.random.default_rng(8)
    digits = rng.integers(0, 10, 500)
    signals = {
        "digit": digits,
        "confidence": rng.uniform(-0.5, 1.5, 500),
        "residual": rng.uniform(-1, 3, 500) * reference.quantiles["residual"].max(),
    }
    ranks = {name: reference.rank(name, signals[name], digits) for name in SIGNALS}
    for name in SIGNALS:
        expected = []
        for digit, value in zip(digits, signals[name]):
            grid = reference.quantiles[name][digit]
            expected.append((np.count_nonzero(grid < value) + 0.5 * np.count_nonzero(grid == value)) / len(grid))
        expected = np.array(expected)
        assert ranks[name] == pytest.approx(expected if name == "confidence" else 1 - expected)


def test_past_its_first_images_a_batchs_residual_is_measured_on_a_sample_whoever_cuts_it(reference):
    """Every image counts in the estimate; the signals of the first FULLY_WATCHED images and of every
    RESIDUAL_STRIDE-th after them are ranked, by place in the batch: the same sample in calls of any size."""
    from mnist_ann.core.monitoring import FULLY_WATCHED, RESIDUAL_STRIDE

    pixels = _images(np.random.default_rng(9), FULLY_WATCHED + 3000)
    whole = watched(reference, pixels)
    expected = FULLY_WATCHED + sum(1 for i in range(FULLY_WATCHED, len(pixels)) if i % RESIDUAL_STRIDE == 0)
    assert whole.images == len(pixels) and whole.sampled_images == expected
    cut = Watch(reference)
    for start in range(0, len(pixels), 700):
        cut.observe(pixels[start : start + 700], _model(pixels[start : start + 700]))
    assert cut.sampled_images == whole.sampled_images
    # the same images: the same sums, but for BLAS's rounding of a product by its size (a residual
    # moves by about 1e-6, a rank by one step of the grid now and then)
    assert cut.rank_sums == pytest.approx(whole.rank_sums, abs=0.1)
    assert cut.drift()["score"] == pytest.approx(whole.drift()["score"], abs=1e-4)
