"""Rows of numbers (--digits many): each picture's digits, read left to right, as one row. Its
`label` is the digit string ("2024", leading zeros kept: read it as text), its `confidence` the
lowest of its digits', then `digits` (how many), `digit_labels` and `digit_confidences` (each
digit's, left to right): in CSV two fields of values separated by spaces ("2 0 2 4"), in JSON Lines
and Parquet lists. Written value by value in Python: pictures of numbers are photos, thousands a
second at most, not the millions of array rows that CSV's byte matrices are for."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .csv_bytes import DECIMALS
from .names import csv_field, printable


class Numbers(NamedTuple):
    """Rows of numbers, read from their digits' probabilities."""

    labels: list[str]  # per row, its digits as one string
    confidences: np.ndarray  # per row, the lowest of its digits' confidences (float32)
    digit_labels: list[list[int]]  # per row, each digit's label
    digit_confidences: list[list[float]]  # per row, each digit's confidence


def digit_starts(counts: Sequence[int]) -> list[int]:
    """Where each number's digits begin among its rows of probabilities, and (last) where they end:
    number i's are rows starts[i] to starts[i + 1]."""
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist()


def read_numbers(probabilities: np.ndarray, counts: Sequence[int]) -> Numbers:
    """The rows of `counts` numbers whose digits' probabilities are the rows of `probabilities`, in
    order (row i's digits: the next counts[i] of them)."""
    labels = probabilities.argmax(axis=1).tolist()
    confidence = probabilities.max(axis=1).astype(np.float32)
    starts = digit_starts(counts)
    digit_labels = [labels[a:b] for a, b in itertools.pairwise(starts)]
    digit_confidences = [confidence[a:b].tolist() for a, b in itertools.pairwise(starts)]
    lowest = np.array([min(c) if c else 0.0 for c in digit_confidences], np.float32)
    return Numbers(["".join(map(str, row)) for row in digit_labels], lowest, digit_labels, digit_confidences)


def csv_lines(sources: Sequence[str], numbers: Numbers, prepared: Sequence[str], uncertain: np.ndarray | None) -> bytes:
    """The rows as CSV lines, in the columns of OutputSpec(numbers=True).header()."""
    lines = []
    for i, source in enumerate(sources):
        fields = [
            csv_field(source),
            numbers.labels[i],
            f"{numbers.confidences[i]:.{DECIMALS}f}",
            str(len(numbers.digit_labels[i])),
            " ".join(map(str, numbers.digit_labels[i])),
            " ".join(f"{c:.{DECIMALS}f}" for c in numbers.digit_confidences[i]),
            prepared[i],
        ]
        if uncertain is not None:
            fields.append("1" if uncertain[i] else "0")
        lines.append(",".join(fields) + "\n")
    return "".join(lines).encode()


def json_lines(
    sources: Sequence[str], numbers: Numbers, prepared: Sequence[str], uncertain: np.ndarray | None
) -> bytes:
    """The rows as JSON Lines, with the fields of OutputSpec(numbers=True).header()."""
    lines = []
    for i, source in enumerate(sources):
        record = {
            "source": printable(source),
            "label": numbers.labels[i],
            "confidence": round(float(numbers.confidences[i]), DECIMALS),
            "digits": len(numbers.digit_labels[i]),
            "digit_labels": numbers.digit_labels[i],
            "digit_confidences": [round(c, DECIMALS) for c in numbers.digit_confidences[i]],
            "prepared": prepared[i],
        }
        if uncertain is not None:
            record["uncertain"] = bool(uncertain[i])
        lines.append(json.dumps(record) + "\n")
    return "".join(lines).encode()


def number_columns(sources: Sequence[str], numbers: Numbers, prepared: Sequence[str], uncertain) -> dict:
    """The rows as columns (name -> values), in the order of OutputSpec(numbers=True).header()."""
    columns = {
        "source": [printable(source) for source in sources],
        "label": numbers.labels,
        "confidence": numbers.confidences,
        "digits": [len(row) for row in numbers.digit_labels],
        "digit_labels": numbers.digit_labels,
        "digit_confidences": numbers.digit_confidences,
        "prepared": list(prepared),
    }
    if uncertain is not None:
        columns["uncertain"] = uncertain
    return columns
