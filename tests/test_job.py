"""job.py: one predict run called as a function: inputs found, scored, written with the errors file,
and its exit code; an output that would destroy the model is refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits, read_rows
from mnist_ann import Predictor
from mnist_ann.core.errors import OutputError
from mnist_ann.predict.errors import InputError
from mnist_ann.predict.job import Job, run_job
from mnist_ann.predict.outputs.spec import OutputSpec


def test_a_job_writes_every_row_in_order_and_lists_what_failed(exported, tmp_path):
    digits = font_digits()[:3]
    np.save(tmp_path / "a.npy", digits[:2])
    Image.fromarray(digits[2]).save(tmp_path / "b.png")
    inputs = [str(tmp_path / "a.npy"), str(tmp_path / "b.png"), str(tmp_path / "gone.png")]

    code = run_job(Job(inputs, str(tmp_path / "out.csv"), str(exported[1])))

    rows = read_rows(tmp_path / "out.csv")
    expected = Predictor(exported[1]).predict(inputs[:2])
    assert code == 2 and [r["source"] for r in rows] == [p.source for p in expected]
    assert [int(r["label"]) for r in rows] == [p.label for p in expected]
    assert read_rows(tmp_path / "out.errors.csv") == [{"source": inputs[2], "error": "no such file or folder"}]
    assert run_job(Job(inputs[:2], str(tmp_path / "out.csv"), str(exported[1]), OutputSpec("jsonl"))) == 0
    assert not (tmp_path / "out.errors.csv").exists()  # a stale errors list goes when nothing failed


def test_an_output_that_is_the_model_is_refused_before_any_work(exported, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(exported[1].read_bytes())
    np.save(tmp_path / "a.npy", font_digits()[:1])
    with pytest.raises(OutputError, match="is the model"):
        run_job(Job([str(tmp_path / "a.npy")], str(model), str(model)))
    assert model.read_bytes() == exported[1].read_bytes()


def test_a_job_with_nothing_to_score_is_one_line_and_writes_nothing(exported, tmp_path):
    """Issue 37 (4): a missing input file alone ended with exit 2 and an empty CSV, as if some inputs
    had been scored. Nothing found to score is an error (exit 1), and no output or errors file is made."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "out.csv").write_text("a former run's rows\n")
    cases = [
        ([str(tmp_path / "gone.png")], f"nothing to score: {tmp_path / 'gone.png'}: no such file or folder"),
        ([str(tmp_path / "empty")], f"nothing to score: no image or array files in {tmp_path / 'empty'}"),
    ]
    for inputs, message in cases:
        with pytest.raises(InputError) as refused:
            run_job(Job(inputs, str(tmp_path / "out.csv"), str(exported[1])))
        assert str(refused.value) == message
    assert (tmp_path / "out.csv").read_text() == "a former run's rows\n" and not (tmp_path / "out.errors.csv").exists()
