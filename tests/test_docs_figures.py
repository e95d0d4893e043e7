"""Figures in README.md and docs/ that come from the files that hold them (issue 42). A figure a page
quotes from a file carries the file and the key after it, in a comment a reader does not see:

    a test accuracy of 0.9690<!-- metrics/evaluate.json#test_accuracy -->

(`#` then the keys, `/` between nested ones: `benchmarks/results.json#training/train_stage/median_s`).
The figure must be the file's, rounded to the digits the page shows: a retrained model, a new
benchmark or a changed preparation that moves it fails here, naming the page, the line and both
figures. The table in docs/benchmarks.md is benchmarks/results.md's, as `make bench` wrote both."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import yaml

from helpers import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKED = re.compile(r"(?P<figure>-?\d+(?:\.\d+)?(?:e-?\d+)?)<!-- (?P<file>[\w./-]+)#(?P<key>[^ ]+) -->")
MARKER = re.compile(r"<!-- [\w./-]+#[^ ]+ -->")


def marked_figures() -> list[tuple[str, str, str, str]]:
    """Every marked figure of every page: (page:line, the figure as shown, file, key)."""
    found = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for match in MARKED.finditer(line):
                found.append((f"{page.relative_to(REPO)}:{number}", match["figure"], match["file"], match["key"]))
    return found


def source_value(file: str, key: str) -> float:
    value = json.loads((REPO / file).read_text())
    for part in key.split("/"):
        assert isinstance(value, dict) and part in value, f"{file} has no {key}"
        value = value[part]
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{file}#{key} is not a number: {value!r}"
    return float(value)


def as_shown(value: float, shown: str) -> str:
    """`value` written with the digits of `shown`: as many decimals, or the same significant digits
    in e-notation (2.4e-6); rounded half up from the figure as the file writes it (0.7765 -> 0.777)."""
    exact = Decimal(repr(value))
    if "e" in shown:
        mantissa = shown.split("e")[0]
        digits = len(mantissa.replace("-", "").replace(".", ""))
        exponent = exact.adjusted()
        rounded = exact.scaleb(-exponent).quantize(Decimal(1).scaleb(1 - digits), ROUND_HALF_UP)
        if abs(rounded) >= 10:  # 9.96e-6 shown with two digits is 1.0e-5
            rounded, exponent = (rounded / 10).quantize(Decimal(1).scaleb(1 - digits), ROUND_HALF_UP), exponent + 1
        return f"{rounded}e{exponent}"
    decimals = -Decimal(shown).as_tuple().exponent
    return str(exact.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))


def test_the_pages_mark_the_figures_they_quote_from_files():
    files = {file for _, _, file, _ in marked_figures()}
    # the model's own figures and the benchmarks' are quoted, and marked, on more than one page
    assert {"metrics/evaluate.json", "metrics/export.json", "metrics/robustness.json"} <= files, files
    for page in PAGES:
        text = page.read_text()
        # a marker with no figure before it marks nothing: a figure was edited away, or mistyped
        assert len(MARKER.findall(text)) == len(MARKED.findall(text)), page


@pytest.mark.parametrize(("where", "shown", "file", "key"), marked_figures(), ids=lambda v: str(v))
def test_a_marked_figure_is_the_one_its_file_holds(where, shown, file, key):
    value = source_value(file, key)
    assert as_shown(value, shown) == shown, f"{where} quotes {shown}, {file}#{key} holds {value}"


def test_the_benchmarks_page_shows_the_table_make_bench_wrote():
    table = (REPO / "benchmarks" / "results.md").read_text().strip()
    assert table in (REPO / "docs" / "benchmarks.md").read_text()


def test_figures_are_written_as_the_file_holds_them():
    assert as_shown(0.969, "0.9690") == "0.9690"
    assert as_shown(2.4437904357910156e-06, "2.4e-6") == "2.4e-6"
    assert as_shown(0.95349, "0.954") == "0.953"  # a stale 0.954 fails
    assert as_shown(0.7765, "0.777") == "0.777"  # half up, as the file writes it (the float is below)
    assert as_shown(15.24, "15") == "15"
    assert as_shown(9.96e-06, "1.0e-5") == "1.0e-5"


def test_the_reading_figures_were_measured_on_the_committed_model():
    """docs/figures/reading.json (tools/reading_figures.py) holds the default model's figures for the
    sets no pipeline file measures: a model exported anew (retrained, or its file changed) must be
    measured anew, or the page quotes another model's figures. test_make_robust measures two of its
    sets again, with both models."""
    reading = json.loads((REPO / "docs" / "figures" / "reading.json").read_text())
    export = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]["export"]["outs"]
    (onnx,) = [out for out in export if out["path"] == "models/model.onnx"]
    assert reading["default"]["model_md5"] == onnx["md5"], "run tools/reading_figures.py (its docstring says how)"
    assert set(reading) >= {"default", "robust", "measured"} and "core" in reading["measured"]["machine"]
