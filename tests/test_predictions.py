"""predictions.py: prediction files in CSV and JSON Lines, with or without probabilities, and the
errors file beside them."""

from __future__ import annotations

import json

import numpy as np

from helpers import DIGITS, predict


def test_jsonl_and_no_probabilities(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:3])
    jsonl = predict("--model", model_path, tmp_path / "a.npy", "--format", "jsonl", "--output", tmp_path / "out.jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == [f"{tmp_path / 'a.npy'}#{i}" for i in range(3)]
    assert all(len(r["probabilities"]) == 10 and r["label"] == int(np.argmax(r["probabilities"])) for r in records)
    short = predict("--model", model_path, tmp_path / "a.npy", "--no-probabilities", "--output", tmp_path / "s.csv")
    assert short.returncode == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "source,label,confidence"


def test_stale_errors_file_is_removed(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:2])
    (tmp_path / "out.errors.csv").write_text("source,error\nold,stale\n")
    assert predict("--model", model_path, tmp_path / "a.npy", "--output", tmp_path / "out.csv").returncode == 0
    assert not (tmp_path / "out.errors.csv").exists()
