"""writers.py: prediction files in CSV and JSON Lines, with or without probabilities, and the
errors file beside them."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits, predict, read_rows


def test_jsonl_and_no_probabilities(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits()[:3])
    jsonl = predict("--model", model_path, tmp_path / "a.npy", "--format", "jsonl", "--output", tmp_path / "out.jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == [f"{tmp_path / 'a.npy'}#{i}" for i in range(3)]
    assert all(len(r["probabilities"]) == 10 and r["label"] == int(np.argmax(r["probabilities"])) for r in records)
    assert {r["prepared"] for r in records} == {"as-is"}  # arrays are never reframed
    short = predict("--model", model_path, tmp_path / "a.npy", "--no-probabilities", "--output", tmp_path / "s.csv")
    assert short.returncode == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "source,label,confidence,prepared" and lines[1].endswith(",as-is")


def test_stale_errors_file_is_removed(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits()[:2])
    (tmp_path / "out.errors.csv").write_text("source,error\nold,stale\n")
    assert predict("--model", model_path, tmp_path / "a.npy", "--output", tmp_path / "out.csv").returncode == 0
    assert not (tmp_path / "out.errors.csv").exists()


FORMULAS = ["=HYPERLINK(x).png", "+1+1.png", "-2+3.png", "@SUM(1).png", "\tx.png"]


def test_names_that_spreadsheets_would_run_are_escaped(exported, tmp_path):
    """OWASP CSV injection: a cell starting with = + - @ or a tab is shown as text (leading ')."""
    _, model_path = exported
    folder = tmp_path / "in"
    folder.mkdir()
    for name in FORMULAS:
        Image.fromarray(font_digits()[0]).save(folder / name, "PNG")
    (folder / "=bad().png").write_bytes(b"not an image")
    names = [*FORMULAS, "=bad().png"]  # after "--": -2+3.png is a name, not an option
    relative = predict("--model", model_path, "--output", tmp_path / "rel.csv", "--", *names, cwd=folder)
    assert relative.returncode == 2, relative.stderr
    assert [row["source"] for row in read_rows(tmp_path / "rel.csv")] == ["'" + n for n in FORMULAS]
    assert [row["source"] for row in read_rows(tmp_path / "rel.errors.csv")] == ["'=bad().png"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_names_that_are_not_utf8_are_written_as_escapes(exported, tmp_path, fmt):
    """Issue 11: a file name with bytes that are not UTF-8 crashed the writers."""
    _, model_path = exported
    folder = tmp_path / "in"
    folder.mkdir()
    good, bad = os.fsencode(folder) + b"/caf\xe9.png", os.fsencode(folder) + b"/broken\xff.png"
    Image.fromarray(font_digits()[0]).save(os.fsdecode(good), "PNG")
    with open(bad, "wb") as fp:
        fp.write(b"not an image")
    output = tmp_path / f"out.{fmt}"
    result = predict("--model", model_path, folder, "--format", fmt, "--output", output)
    assert result.returncode == 2, result.stderr
    if fmt == "csv":
        sources = [row["source"] for row in read_rows(output)]
    else:
        sources = [json.loads(line)["source"] for line in output.read_text(encoding="utf-8").splitlines()]
    assert sources == [f"{folder}/caf\\xe9.png"]
    errors = read_rows(tmp_path / "out.errors.csv")
    assert [row["source"] for row in errors] == [f"{folder}/broken\\xff.png"]
