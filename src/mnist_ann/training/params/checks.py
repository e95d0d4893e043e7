"""The checks that params/__init__.py builds its sections from: each takes a raw YAML value and its dotted key, and
returns the value (normalised) or raises ParamsError with one line naming the key."""

from __future__ import annotations

import itertools
import math
import re
import reprlib
from collections.abc import Callable
from dataclasses import field, fields
from typing import Any

from ...core.errors import ParamsError

Check = Callable[[Any, str], Any]  # (raw value, dotted key) -> checked value, or raise ParamsError


def fail(key: str, expected: str, value: Any) -> None:
    # reprlib bounds the text: a YAML alias bomb or a 50 MB string must not be spelled out here.
    raise ParamsError(f"{key} must be {expected}, got {reprlib.repr(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, key: str) -> int:
    if not (_is_int(value) and value > 0):
        fail(key, "a positive integer", value)
    return value


def non_negative_int(value: Any, key: str) -> int:
    if not (_is_int(value) and value >= 0):
        fail(key, "an integer >= 0", value)
    return value


def positive_number(value: Any, key: str) -> float:
    if not ((_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0):
        fail(key, "a positive number", value)
    return float(value)


def number_between(low: float, high: float) -> Check:
    """A number (int or float) from `low` to `high`, as a float."""

    def check(value: Any, key: str) -> float:
        if not ((_is_int(value) or isinstance(value, float)) and math.isfinite(value) and low <= value <= high):
            fail(key, f"a number from {low:g} to {high:g}", value)
        return float(value)

    return check


def int_between(low: int, high: int, what: str) -> Check:
    """An integer from `low` to `high`, described as `what` in errors."""

    def check(value: Any, key: str) -> int:
        if not (_is_int(value) and low <= value <= high):
            fail(key, f"{what} from {low} to {high}", value)
        return value

    return check


def at_most(check: Check, limit: float) -> Check:
    """`check`, then a ceiling: values past what this project can run (a 10^20-epoch fit, a layer
    of 10^9 units) fail here, by name, rather than minutes into the work."""

    def bounded(value: Any, key: str) -> Any:
        value = check(value, key)
        if value > limit:
            fail(key, f"at most {limit:g}", value)
        return value

    return bounded


def matching(pattern: str, what: str) -> Check:
    """A non-empty string matching `pattern` (a regular expression, matched whole)."""

    def check(value: Any, key: str) -> str:
        if not (isinstance(value, str) and re.fullmatch(pattern, value)):
            fail(key, what, value)
        return value

    return check


def non_empty_string(value: Any, key: str) -> str:
    if not (isinstance(value, str) and value.strip()):
        fail(key, "a non-empty string", value)
    return value


def one_of(*options: str) -> Check:
    def check(value: Any, key: str) -> str:
        if value not in options:
            fail(key, "one of " + ", ".join(options), value)
        return value

    return check


def non_empty_list(item: Check, longest: int = 100) -> Check:
    def check(value: Any, key: str) -> tuple:
        if not isinstance(value, list) or not value:
            fail(key, "a non-empty list", value)
        if len(value) > longest:
            fail(key, f"a list of at most {longest} items", f"{len(value)} items")
        return tuple(item(v, f"{key}[{i}]") for i, v in enumerate(value))

    return check


def dense_weights(widths: tuple[int, ...] | list[int]) -> int:
    """Weights and biases of Dense layers of these widths, one after the other, on 784 pixels."""
    return sum(a * b + b for a, b in itertools.pairwise((784, *widths)))


def network_of_at_most(limit: int, units: Check) -> Check:
    """A list of hidden layers' widths (checked by `units`) whose dense network, from MNIST's 784
    pixels to its 10 digits, has at most `limit` weights and biases."""

    def check(value: Any, key: str) -> tuple[int, ...]:
        layers = units(value, key)
        weights = dense_weights((*layers, 10))
        if weights > limit:
            raise ParamsError(f"{key} must make a network of at most {limit:,} weights, got {weights:,}")
        return layers

    return check


def refuse_unknown_keys(raw: dict, known: list[str], key: str) -> None:
    for unknown in sorted(raw.keys() - set(known), key=str):
        raise ParamsError(f"{join(key, unknown)} is not a known parameter (known: {', '.join(known)})")


def param(check: Check) -> Any:
    """A dataclass field whose raw value is checked (and normalised) by `check` when loading."""
    return field(metadata={"check": check})


def section(cls: type) -> Any:
    """A dataclass field holding a nested section."""
    return param(lambda value, key: build(cls, value, key))


def join(key: str, child: str) -> str:
    return f"{key}.{child}" if key else child


def build(cls: type, raw: Any, key: str = "") -> Any:
    """Build dataclass `cls` from the mapping `raw`, checking every key; `key` names it in errors."""
    if not isinstance(raw, dict):
        fail(key or "the top level", "a mapping of keys to values", raw)
    refuse_unknown_keys(raw, [f.name for f in fields(cls)], key)
    values = {}
    for f in fields(cls):
        if f.name not in raw:
            raise ParamsError(f"{join(key, f.name)} is missing")
        values[f.name] = f.metadata["check"](raw[f.name], join(key, f.name))
    return cls(**values)
