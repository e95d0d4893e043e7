"""evaluation/paired.py: two models measured on the same pictures: the answers on the test set, the
right and wrong per variant picture (a picture preparation refused is wrong), the loss per image
as the evaluate stage computes it, and the interval of a paired difference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_ann.training.evaluation.paired import mcnemar_exact, mean_difference, measure
from mnist_ann.training.evaluation.scores import score


def _model(pixels: np.ndarray) -> np.ndarray:
    """A model that reads a picture's mean brightness as its digit: wrong often, on purpose."""
    rng = np.random.default_rng(len(pixels))
    probabilities = rng.random((len(pixels), 10)) * 0.1
    probabilities[np.arange(len(pixels)), (pixels.mean(axis=1) * 40).astype(int) % 10] += 1
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def test_measure_gives_the_answers_per_image_and_per_variant_picture():
    rng = np.random.default_rng(1)
    digits = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    pixels, labels = digits.reshape(300, 784) / 255.0, rng.integers(0, 10, 300)
    refused = np.zeros(300, bool)
    refused[:50] = True
    measured = measure(
        _model, pixels, labels, {"same": (digits, labels, None), "half_refused": (digits, labels, refused)}
    )
    expected = _model(pixels).argmax(axis=1) == labels
    assert np.array_equal(measured.correct, expected) and measured.accuracy == pytest.approx(expected.mean())
    assert np.array_equal(measured.variant_correct["same"], expected)
    assert np.array_equal(measured.variant_correct["half_refused"], expected & ~refused)
    assert measured.variants["mean"] == pytest.approx((expected.mean() + (expected & ~refused).mean()) / 2)
    assert measured.losses.mean() == pytest.approx(score(measured.probabilities, labels)["loss"])
    assert measured.seconds_per_image > 0
    assert measure(_model, pixels, labels, {}).variants == {}  # nothing measured, no mean of nothing


def test_the_interval_of_a_paired_difference_is_the_normal_one_on_the_per_image_differences():
    """Checked against the textbook formula: mean ± z * sd / sqrt(n) of the differences (numpy's std, ddof 0)."""
    rng = np.random.default_rng(0)
    baseline, candidate = rng.exponential(size=400), rng.exponential(size=400) * 0.9
    found = mean_difference(candidate, baseline, 0.95)
    differences = candidate - baseline
    half = 1.959964 * differences.std() / math.sqrt(400)
    assert found.difference == pytest.approx(differences.mean())
    assert (found.low, found.high) == pytest.approx((differences.mean() - half, differences.mean() + half), rel=1e-6)
    assert mean_difference(candidate, baseline, 0.99).low < found.low  # more confident: wider


def test_mcnemars_exact_p_value_is_the_two_sided_binomial_tail():
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 2**10)
    b, c = 3, 12  # two-sided: twice the lower tail P(X <= 3), X ~ Binomial(15, 1/2)
    assert mcnemar_exact(b, c) == pytest.approx(2 * sum(math.comb(15, k) for k in range(4)) / 2**15)
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_two_models_are_timed_in_alternate_passes_each_by_its_fastest():
    """The promotion gate's slowdown is a ratio of two timings: taken in turns, a change in the
    machine's load falls on both models alike."""
    import time

    from mnist_ann.training.evaluation.paired import fastest_passes

    calls = []

    def model(name, seconds):
        def predict(pixels):
            calls.append(name)
            time.sleep(seconds)
            return pixels

        return predict

    pixels = np.zeros((100, 784), np.float32)
    slow, fast = fastest_passes([model("a", 0.02), model("b", 0.005)], pixels, repeats=3)
    assert calls == ["a", "b"] * 3
    assert 0.02 / 100 <= slow < 0.2 / 100 and 0.005 / 100 <= fast < slow


def test_in_cpu_time_a_pass_that_waits_costs_nothing_and_one_that_computes_does():
    """The promotion gate times in the process's CPU time (time.process_time): what the machine's
    other work takes from a pass, waiting for a core, is not the model's cost. A pass that sleeps
    (all of it waiting) measures next to nothing; one that computes measures its work."""
    import time

    from mnist_ann.training.evaluation.paired import fastest_passes

    def waiting(pixels):
        time.sleep(0.02)
        return pixels

    def computing(pixels):
        started = time.process_time()
        while time.process_time() - started < 0.02:
            pass
        return pixels

    pixels = np.zeros((100, 784), np.float32)
    waited, computed = fastest_passes([waiting, computing], pixels, repeats=2, clock=time.process_time)
    assert waited < 0.005 / 100 and computed >= 0.02 / 100, (waited, computed)
    waited_wall, _ = fastest_passes([waiting, computing], pixels, repeats=2)
    assert waited_wall >= 0.02 / 100  # by the wall clock, the wait is counted
