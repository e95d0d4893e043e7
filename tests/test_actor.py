"""cluster/actor.py: what a Ray actor runs, without Ray: each kind of task gives the rows (and the
errors, in place) that the single-machine run gives for the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits
from mnist_ann.core.mnist import preprocess
from mnist_ann.core.onnx_model import OnnxModel
from mnist_ann.predict.cluster.actor import TaskRows, run_task, scored_batch
from mnist_ann.predict.errors import ClusterError, from_record
from mnist_ann.predict.settings import BatchSettings


def _columns(model, tasks, settings=None) -> dict:
    rows = TaskRows()
    for task in tasks:
        run_task(task, model, settings or BatchSettings(), rows)
    return rows.columns("node-a")


def test_image_tasks_score_the_good_files_and_carry_the_bad_ones_in_place(exported, tmp_path):
    model = OnnxModel(exported[1])
    paths = []
    for i, name in enumerate(["0.png", "1.png", "bad.png", "3.png"]):
        paths.append(str(tmp_path / name))
        if name == "bad.png":
            (tmp_path / name).write_bytes(b"not an image")
        else:
            Image.fromarray(font_digits()[i]).save(paths[-1])
    columns = _columns(model, [{"kind": "image", "paths": paths}])
    assert list(columns["source"]) == paths  # in input order, as the engine gives every caller its rows
    assert list(columns["error"]) == ["", "", "not an image Pillow can read", ""]
    assert list(columns["prepared"][[0, 1, 3]]) == ["mnist/dark"] * 3 and set(columns["node"]) == {"node-a"}
    assert list(columns["index"]) == [-1] * 4
    assert columns["probabilities"].shape == (4, 10)
    expected = model.predict(preprocess(font_digits()[[0, 1, 3]]))
    np.testing.assert_allclose(columns["probabilities"][[0, 1, 3]], expected, atol=1e-6)


def test_array_ranges_and_whole_files_are_scored_as_on_one_machine(exported, tmp_path):
    model = OnnxModel(exported[1])
    np.save(tmp_path / "a.npy", font_digits()[:10])
    floats = tmp_path / "f.npy"
    np.save(
        floats, np.concatenate([font_digits()[:3] / 255.0, np.full((1, 28, 28), 2.0)])
    )  # its last image is out of range
    tasks = [
        {"kind": "npy", "path": str(tmp_path / "a.npy"), "start": 4, "stop": 7},
        {"kind": "npy", "path": str(floats)},
        {"kind": "failed", "path": "gone.npy", "reason": "found bad by the driver"},
    ]
    columns = _columns(model, tasks, BatchSettings(batch_size=2))
    assert list(columns["source"]) == [str(tmp_path / "a.npy")] * 3 + [str(floats), "gone.npy"]
    assert list(columns["index"]) == [4, 5, 6, -1, -1]  # an array row: its file and its index there
    assert list(columns["prepared"][:3]) == ["as-is"] * 3
    assert columns["error"][3].startswith("float pixels must be") and columns["error"][4] == "found bad by the driver"
    np.testing.assert_allclose(columns["probabilities"][:3], model.predict(preprocess(font_digits()[4:7])), atol=1e-6)


def test_an_actor_with_nothing_to_return_returns_empty_columns(exported):
    columns = _columns(OnnxModel(exported[1]), [])
    assert columns["probabilities"].shape == (0, 10) and all(len(v) == 0 for v in columns.values())


def test_an_error_that_stops_the_job_reaches_the_driver_as_the_same_class(exported, tmp_path):
    """An actor returns the record of a ModelError (raised, Ray would pass it on as text); the
    driver raises the ModelError itself, before writing any row of the batch."""
    from mnist_ann.core.errors import ModelError
    from mnist_ann.predict.cluster.driver import ClusterOutcome, _write_batch
    from mnist_ann.predict.errors import error_record

    rows = TaskRows()
    rows.failed("", "stopped")
    rows.stop = json.dumps(error_record(ModelError("lying.onnx: returned NaN or infinite probabilities")))
    written = []
    with pytest.raises(ModelError, match=r"^lying.onnx: returned NaN or infinite probabilities$"):
        _write_batch(rows.columns("node-a"), written, ClusterOutcome())
    assert written == []


@pytest.mark.parametrize(
    "task, named",
    [
        ({"kind": "image"}, "a task: KeyError: 'paths'"),  # a driver of another version: no paths
        ({"kind": "image", "paths": ["a.png", "b.png", "c.png"], "frame": 3}, None),
    ],
)
def test_an_exception_on_a_worker_stops_the_job_by_its_input_and_cause(exported, task, named):
    """Not Ray's advice ("To change retry attempts, ...") naming neither: the batch's answer says
    which input and what went wrong, and the driver raises it as on one machine."""
    model = OnnxModel(exported[1])
    settings = BatchSettings(preparation=None)  # a node whose settings cannot prepare an image
    columns = scored_batch(
        [json.dumps(task)], model, settings if named is None else BatchSettings(), "0123456789abcdef"
    )
    (stop,) = set(columns["stop"])
    error = from_record(json.loads(stop))
    assert isinstance(error, ClusterError)
    expected = named or "a.png (and the 2 more images of its task): AttributeError: "
    assert str(error).startswith(expected), str(error)
    assert str(error).endswith("(on the Ray worker of node 0123456789ab)")


def test_each_task_sends_back_what_its_images_looked_like_and_the_driver_merges_it(monitored, tmp_path):
    """A task's Watch sums ride in its first row (rows) or its summary (shards); merged, they are
    the watch of the whole batch, with the residual sampled by each image's place in its task."""
    from mnist_ann.core.monitoring import Watch, in_sample
    from mnist_ann.predict.cluster.task_shards import ShardTarget
    from mnist_ann.predict.monitor import watch_for
    from mnist_ann.predict.outputs.spec import OutputSpec

    model = OnnxModel(monitored)
    reference = watch_for(model).reference
    images = np.concatenate([font_digits()] * 60)  # 2,400: past FULLY_WATCHED in one go and in halves
    np.save(tmp_path / "a.npy", images)
    tasks = [
        json.dumps({"kind": "npy", "path": str(tmp_path / "a.npy"), "start": lo, "stop": lo + 1200, "number": n})
        for n, lo in enumerate((0, 1200))
    ]
    settings = BatchSettings(batch_size=500)
    (tmp_path / "shards").mkdir()
    target = ShardTarget(str(tmp_path / "shards"), OutputSpec())
    pixels = preprocess(images)
    whole = Watch(reference)
    whole.observe(pixels, model.predict(pixels))
    assert whole.sampled_images == in_sample(np.arange(2400)).sum()  # one batch on one machine
    by_task = Watch(reference)  # each task sampled from its own first image
    for lo in (0, 1200):
        task = Watch(reference)
        task.observe(pixels[lo : lo + 1200], model.predict(pixels[lo : lo + 1200]))
        by_task.merge(task)
    for shards in (None, target):
        merged = Watch(reference)
        for task in tasks:
            columns = scored_batch([task], model, settings, "node-a", target=shards, reference=reference)
            sent = [text for text in columns["watch"] if text]
            assert len(sent) == 1  # once per task, whatever its rows
            merged.merge_sums(json.loads(sent[0]))
        assert merged.images == whole.images == 2400  # each task sampled from its own first image:
        assert merged.sampled_images == 2 * in_sample(np.arange(1200)).sum() > whole.sampled_images
        assert np.array_equal(merged.digits, whole.digits) and np.array_equal(merged.histogram, whole.histogram)
        assert merged.confidence_sum == pytest.approx(whole.confidence_sum, rel=1e-6)  # float32, summed in other runs
        assert merged.rank_sums == pytest.approx(by_task.rank_sums, rel=1e-6)
        assert merged.summary({})["drift"]["alarm"] == whole.summary({})["drift"]["alarm"]
    plain = scored_batch(tasks[:1], model, settings, "node-a")  # a model without a reference
    assert set(plain["watch"]) == {""}
