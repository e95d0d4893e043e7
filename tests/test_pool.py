"""images/pool.py: image files decoded by worker processes give what one process gives, run by run in
input order, with only a few tasks handed out ahead of the scorer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits
from mnist_ann.predict.inputs.discovery import Input
from mnist_ann.predict.inputs.images import pool
from mnist_ann.predict.inputs.images.decode import decode_images
from mnist_ann.predict.inputs.images.pool import ImageDecoder, runs_by_kind
from mnist_ann.predict.inputs.images.preparation import Preparation

# Every test here starts a process (the command, a stage, git or a decoding pool): not in `make check`.
pytestmark = pytest.mark.heavy


@pytest.fixture
def inputs(tmp_path) -> list[Input]:
    """Two runs of image files (one damaged file among them) around an array file."""
    for i, digit in enumerate(font_digits()[:30]):
        Image.fromarray(digit).save(tmp_path / f"{i:02d}.png")
    (tmp_path / "07.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    files = [Input(str(tmp_path / f"{i:02d}.png"), "image") for i in range(30)]
    return [*files[:18], Input(str(tmp_path / "x.npy"), "npy"), *files[18:]]


def image_runs(inputs) -> list[list[str]]:
    return [[item.path for item in run] for is_image, run in runs_by_kind(inputs) if is_image]


@pytest.mark.parametrize("workers", [1, 2])
def test_each_run_decodes_in_order_as_one_process_would(inputs, workers, monkeypatch):
    monkeypatch.setattr(pool, "TASKS_AHEAD_PER_WORKER", 2)
    preparation = Preparation()
    with ImageDecoder(inputs, preparation, workers, task_size=4) as decoder:
        for paths in image_runs(inputs):
            got = list(decoder.decoded(paths))
            assert [task for task, _ in got] == [paths[i : i + 4] for i in range(0, len(paths), 4)]
            for task, (digits, ok, prepared, failed, _) in got:
                want = decode_images(task, preparation)
                np.testing.assert_array_equal(digits, want[0])
                assert (ok, prepared, failed) == (want[1], want[2], want[3])
        assert decoder.in_flight == 0


def test_the_damaged_file_is_named_in_its_task(inputs):
    with ImageDecoder(inputs, Preparation(), 2, task_size=8) as decoder:
        failed = [f for paths in image_runs(inputs) for _, result in decoder.decoded(paths) for f in result[3]]
    assert [source.rsplit("/", 1)[1] for source, _ in failed] == ["07.png"]


def test_only_a_few_tasks_are_handed_out_ahead(inputs, monkeypatch):
    """Memory stays flat however many files there are: the decoder hands out workers x
    TASKS_AHEAD_PER_WORKER tasks at once, starting when it is made, and one more per task taken."""
    monkeypatch.setattr(pool, "TASKS_AHEAD_PER_WORKER", 2)
    with ImageDecoder(inputs, Preparation(), 2, task_size=2) as decoder:  # 15 tasks in all
        assert decoder.in_flight == 4
        seen = []
        for paths in image_runs(inputs):
            for _ in decoder.decoded(paths):
                seen.append(decoder.in_flight)
    assert max(seen) == 4 and seen[-1] == 0 and len(seen) == 15
