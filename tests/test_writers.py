"""writers.py: prediction files in CSV and JSON Lines, with or without probabilities, and the
errors file beside them."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits, predict, read_rows
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import prediction_file, write_errors

PROBABILITIES = np.array([[0.1] * 10, [0, 0, 0.25, 0, 0, 0, 0, 0.75, 0, 0]], np.float32)


def test_rows_in_csv_and_jsonl_with_or_without_probabilities(tmp_path):
    with prediction_file(tmp_path / "out.jsonl", OutputSpec("jsonl", True)) as writer:
        writer.write_array_rows("a.npy", 9, PROBABILITIES)
        writer.write(["b,c.png"], PROBABILITIES[1:], ["mnist/light"])
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == ["a.npy#9", "a.npy#10", "b,c.png"]
    assert [r["label"] for r in records] == [0, 7, 7] and records[1]["confidence"] == 0.75
    assert records[1]["probabilities"] == [0, 0, 0.25, 0, 0, 0, 0, 0.75, 0, 0]
    assert [r["prepared"] for r in records] == ["as-is", "as-is", "mnist/light"]  # arrays are never reframed
    with prediction_file(tmp_path / "s.csv", OutputSpec("csv", False)) as writer:
        writer.write_array_rows("a.npy", 9, PROBABILITIES)
        writer.write(["b,c.png"], PROBABILITIES[1:], ["mnist/light"])
    assert (tmp_path / "s.csv").read_text().splitlines() == [
        "source,label,confidence,prepared",
        "a.npy#9,0,0.100000,as-is",
        "a.npy#10,7,0.750000,as-is",
        '"b,c.png",7,0.750000,mnist/light',
    ]


@pytest.mark.parametrize("with_probabilities", [True, False])
def test_rows_below_the_minimum_confidence_say_uncertain_and_none_is_dropped(tmp_path, with_probabilities):
    """Issue 24: --min-confidence marks the rows a person should look at, in every kind of row."""
    with prediction_file(tmp_path / "u.csv", OutputSpec("csv", with_probabilities, 0.75)) as writer:
        writer.write_array_rows("a.npy", 9, PROBABILITIES)
        writer.write(["b,c.png", "d.png"], PROBABILITIES[::-1], ["mnist/light", "mnist/dark"])
    rows = read_rows(tmp_path / "u.csv")
    assert list(rows[0])[-2:] == ["prepared", "uncertain"]
    assert [(r["source"], r["uncertain"]) for r in rows] == [
        ("a.npy#9", "1"),
        ("a.npy#10", "0"),  # 0.75 is not below 0.75
        ("b,c.png", "0"),
        ("d.png", "1"),
    ]
    with prediction_file(tmp_path / "u.jsonl", OutputSpec("jsonl", with_probabilities, 0.75)) as writer:
        writer.write_array_rows("a.npy", 9, PROBABILITIES)
        writer.write(["d.png"], PROBABILITIES[:1], ["mnist/dark"])
    records = [json.loads(line) for line in (tmp_path / "u.jsonl").read_text().splitlines()]
    assert [r["uncertain"] for r in records] == [True, False, True]


@pytest.mark.heavy
def test_min_confidence_through_the_command_and_its_bad_values(exported, tmp_path):
    _, model = exported
    np.save(tmp_path / "d.npy", font_digits()[:6])
    result = predict("--model", model, tmp_path / "d.npy", "--output", tmp_path / "o.csv", "--min-confidence", "1")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "o.csv")
    assert len(rows) == 6 and {r["uncertain"] for r in rows} == {"1"}  # no float32 softmax reaches 1 here
    for bad in ("1.5", "-0.1", "often"):
        refused = predict("--model", model, tmp_path / "d.npy", "--output", tmp_path / "x.csv", "--min-confidence", bad)
        assert refused.returncode == 1 and "--min-confidence: must be a number from 0 to 1" in refused.stderr
    ray = predict(
        "--model", model, tmp_path / "d.npy", "--output", tmp_path / "r.csv", "--min-confidence", "0.5", "--ray"
    )
    assert ray.returncode == 1 and ray.stderr.strip().splitlines()[-1].endswith("cannot be used with --ray")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r.csv").exists()


def test_a_failed_block_leaves_no_file_and_the_previous_one_as_it_was(tmp_path):
    (tmp_path / "out.csv").write_text("before\n")
    with pytest.raises(RuntimeError), prediction_file(tmp_path / "out.csv", OutputSpec("csv", True)) as writer:
        writer.write_array_rows("a.npy", 0, PROBABILITIES)
        raise RuntimeError("stopped")
    assert (tmp_path / "out.csv").read_text() == "before\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "out.csv"
    ]


def test_the_errors_file_lists_failures_and_a_stale_one_goes(tmp_path):
    (tmp_path / "out.errors.csv").write_text("source,error\nold,stale\n")
    assert write_errors(tmp_path / "out.csv", [("=x.png", "no digit")]) == tmp_path / "out.errors.csv"
    assert read_rows(tmp_path / "out.errors.csv") == [{"source": "'=x.png", "error": "no digit"}]
    assert write_errors(tmp_path / "out.csv", []) is None
    assert not (tmp_path / "out.errors.csv").exists()


@pytest.mark.heavy
def test_no_probabilities_through_the_command(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", font_digits()[:3])
    short = predict("--model", model_path, tmp_path / "a.npy", "--no-probabilities", "--output", tmp_path / "s.csv")
    assert short.returncode == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "source,label,confidence,prepared" and lines[1].endswith(",as-is")


FORMULAS = ["=HYPERLINK(x).png", "+1+1.png", "-2+3.png", "@SUM(1).png", "\tx.png"]


@pytest.mark.heavy
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


@pytest.mark.heavy
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
