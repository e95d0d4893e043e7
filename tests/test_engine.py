"""predict/engine.py: the one scoring loop. Rows and failures come out in input order, one model
call per decoded run or array chunk, and the Predictor, the command's run on this machine and a Ray
actor's task (run in-process here) give the same answers for the same inputs."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from helpers import font_digits
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.onnx_model import OnnxModel
from mnist_ann.predict.cluster.actor import TaskRows, run_task
from mnist_ann.predict.engine import score_array_file, score_decoded
from mnist_ann.predict.inputs.discovery import discover
from mnist_ann.predict.inputs.images.decode import decode_images
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import prediction_file
from mnist_ann.predict.predictor import Predictor
from mnist_ann.predict.scoring import score_inputs
from mnist_ann.predict.settings import BatchSettings


class Recorded:
    """A Rows sink that keeps what the engine hands it, in order."""

    def __init__(self):
        self.events = []

    def scored(self, sources, probabilities, prepared, counts=None):  # the engine.Rows protocol
        assert counts is None  # (one digit per picture here)
        self.events.append(("scored", list(sources), np.asarray(probabilities), list(prepared)))

    def scored_array(self, path, start, probabilities):
        self.events.append(("array", path, start, np.asarray(probabilities)))

    def failed(self, source, reason):
        self.events.append(("failed", source, reason))


class CountingModel:
    def __init__(self, model):
        self.model, self.calls = model, []

    def predict(self, pixels):
        self.calls.append(len(pixels))
        return self.model.predict(pixels)


def test_a_run_of_images_is_one_model_call_and_its_rows_keep_the_input_order(exported, tmp_path):
    network, model_path = exported
    paths = []
    for i, digit in enumerate(font_digits()[:4]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(digit).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    paths.insert(2, str(tmp_path / "bad.png"))
    model, rows = CountingModel(OnnxModel(model_path)), Recorded()
    decoded = decode_images(paths, BatchSettings().preparation)
    score_decoded(model, paths, decoded, rows)
    assert model.calls == [4]
    assert [event[0] for event in rows.events] == ["scored", "failed", "scored"]
    assert rows.events[0][1] == paths[:2] and rows.events[1][1] == paths[2] and rows.events[2][1] == paths[3:]
    expected = network.predict(preprocess(decoded[0]))
    np.testing.assert_allclose(np.concatenate([rows.events[0][2], rows.events[2][2]]), expected, atol=1e-6)


def test_an_array_file_is_scored_in_chunks_or_is_one_failure(exported, tmp_path):
    network, model_path = exported
    digits = font_digits()[:10]
    np.save(tmp_path / "digits.npy", digits)
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY broken")
    model, rows = CountingModel(OnnxModel(model_path)), Recorded()
    inputs, _ = discover([str(tmp_path / "digits.npy"), str(tmp_path / "broken.npy")])
    for item in inputs:
        score_array_file(model, item, BatchSettings(batch_size=4), rows)
    assert model.calls == [4, 4, 2]
    assert [(e[0], e[2]) for e in rows.events[:3]] == [("array", 0), ("array", 4), ("array", 8)]
    np.testing.assert_allclose(
        np.concatenate([e[3] for e in rows.events[:3]]), network.predict(preprocess(digits)), atol=1e-6
    )
    assert rows.events[3][:2] == ("failed", str(tmp_path / "broken.npy"))


def test_the_predictor_the_command_and_an_actor_give_the_same_answers(exported, tmp_path):
    _, model_path = exported
    for i, digit in enumerate(font_digits()[:3]):
        Image.fromarray(digit).save(tmp_path / f"{i}.png")
    (tmp_path / "3.png").write_bytes(b"not a png")
    np.save(tmp_path / "4.npy", font_digits()[3:6])
    inputs, _ = discover([str(tmp_path)])
    settings = BatchSettings(batch_size=2)

    by_predictor = Predictor(model_path).predict(str(tmp_path))

    with prediction_file(tmp_path / "out.jsonl", OutputSpec("jsonl", True)) as writer:
        outcome = score_inputs(OnnxModel(model_path), inputs, writer, settings)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()

    rows = TaskRows()
    images = [i.path for i in inputs if i.kind == "image"]
    run_task({"kind": "image", "paths": images}, OnnxModel(model_path), settings, rows)
    run_task({"kind": "npy", "path": str(tmp_path / "4.npy")}, OnnxModel(model_path), settings, rows)

    scored = [p for p in by_predictor if p.error is None]
    assert len(scored) == len(lines) == sum(1 for e in rows.errors if not e) == outcome.scored == 6
    actor_labels = [int(p.argmax()) for p, e in zip(np.concatenate(rows.probabilities), rows.errors) if not e]
    command_labels = [int(json.loads(line)["label"]) for line in lines]
    assert [p.label for p in scored] == command_labels == actor_labels
    assert [p.source for p in by_predictor if p.error] == [e[0] for e in outcome.errors] == [str(tmp_path / "3.png")]


def test_chunks_are_scored_while_the_next_is_read_and_a_bad_one_ends_the_input_after_the_rest(exported):
    """score_chunks submits a chunk before it takes the answer of the one before: the model has the
    next call queued while this thread writes rows. The rows are those of one call at a time, in
    order; a chunk that cannot be read comes after the rows of every chunk before it."""
    import pytest

    from mnist_ann.predict.engine import score_chunks
    from mnist_ann.predict.errors import InputError

    model = OnnxModel(exported[1])
    pixels = preprocess(np.concatenate([font_digits()] * 3))
    taken = []  # the order in which the engine read chunks and took answers

    def chunks(fail_at=None):
        for start in range(0, len(pixels), 25):
            if start == fail_at:
                raise InputError("cannot read: cut short")
            taken.append(("read", start))
            yield start, pixels[start : start + 25]

    class Logged(Recorded):
        def scored_array(self, path, start, probabilities):
            taken.append(("rows", start))
            super().scored_array(path, start, probabilities)

    rows = Logged()
    score_chunks(model, "a.npy", chunks(), rows)
    assert [start for _, _, start, _ in rows.events] == list(range(0, 120, 25))
    assert np.array_equal(np.concatenate([p for *_, p in rows.events]), model.predict(pixels))
    assert taken[:4] == [("read", 0), ("read", 25), ("rows", 0), ("read", 50)]  # one chunk ahead
    rows, taken[:] = Logged(), []
    with pytest.raises(InputError):
        score_chunks(model, "a.npy", chunks(fail_at=75), rows)
    assert [start for _, _, start, _ in rows.events] == [0, 25, 50]


def test_submitted_calls_are_answered_in_order_as_predict_answers_them(exported):
    model = OnnxModel(exported[1])
    batches = [preprocess(font_digits()[i : i + 10]) for i in range(0, 40, 10)]
    answers = [model.submit(batch) for batch in batches]  # all four queued before any is taken
    for batch, answer in zip(batches, answers):
        assert np.array_equal(answer(), model.predict(batch))
