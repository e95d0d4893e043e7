"""checks.py: each check returns the value it accepts (normalised) and names the key of a value it
refuses; build() refuses unknown and missing keys by their dotted name."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mnist_ann.core.errors import ParamsError
from mnist_ann.training.params.checks import (
    build,
    int_between,
    non_empty_list,
    one_of,
    param,
    positive_int,
    positive_number,
    section,
)


@dataclass(frozen=True)
class Inner:
    width: int = param(positive_int)


@dataclass(frozen=True)
class Outer:
    rate: float = param(positive_number)
    inner: Inner = section(Inner)


def test_checks_accept_and_normalise():
    assert positive_number(3, "k") == 3.0 and isinstance(positive_number(3, "k"), float)
    assert non_empty_list(positive_int)([1, 2], "k") == (1, 2)
    assert int_between(13, 18, "an ONNX opset")(17, "k") == 17
    assert one_of("a", "b")("b", "k") == "b"
    assert build(Outer, {"rate": 1, "inner": {"width": 4}}) == Outer(1.0, Inner(4))


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"rate": 1, "inner": {"width": 0}}, "inner.width must be a positive integer, got 0"),
        ({"rate": 1, "inner": {"width": 1, "depth": 2}}, "inner.depth is not a known parameter (known: width)"),
        ({"rate": 1}, "inner is missing"),
        ({"rate": True, "inner": {"width": 1}}, "rate must be a positive number, got True"),
        ([], "the top level must be a mapping of keys to values, got []"),
    ],
)
def test_refusals_name_the_key(raw, message):
    with pytest.raises(ParamsError) as caught:
        build(Outer, raw)
    assert str(caught.value) == message
    with pytest.raises(ParamsError, match=r"k\[1\] must be a positive integer"):
        non_empty_list(positive_int)([1, -1], "k")
    with pytest.raises(ParamsError, match="k must be an ONNX opset from 13 to 18, got 12"):
        int_between(13, 18, "an ONNX opset")(12, "k")
