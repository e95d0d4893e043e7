"""archives.py: a zip archive's bytes become a function of its contents alone."""

from __future__ import annotations

import json
import zipfile

from mnist_ann.core.npy import ZIP_EPOCH
from mnist_ann.training.archives import KERAS_DATE, make_reproducible

WEIGHTS = b"\x89HDF" + bytes(range(256)) * 4


def archive(path, when, saved, address):
    """A .keras-like archive saved at `when` by a process that had its shared object at `address`."""
    metadata = {"keras_version": "3", "date_saved": saved}
    config = {
        "dtype": {"shared_object_id": address},
        "layers": [{"shared_object_id": address}, {"shared_object_id": 7}],
    }
    with zipfile.ZipFile(path, "w") as out:
        out.writestr(zipfile.ZipInfo("metadata.json", date_time=when), json.dumps(metadata))
        out.writestr(zipfile.ZipInfo("config.json", date_time=when), json.dumps(config))
        weights = zipfile.ZipInfo("model.weights.h5", date_time=when)
        weights.compress_type = zipfile.ZIP_DEFLATED
        out.writestr(weights, WEIGHTS)
    return path


def test_two_archives_of_the_same_contents_become_identical(tmp_path):
    first = archive(tmp_path / "a.keras", (2026, 11, 28, 10, 0, 0), "2026-11-28@10:00:00", 139782545478032)
    second = archive(tmp_path / "b.keras", (2026, 11, 29, 23, 59, 58), "2026-11-29@23:59:58", 140094288597584)
    assert first.read_bytes() != second.read_bytes()
    make_reproducible(first)
    make_reproducible(second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as result:
        assert [(i.filename, i.date_time) for i in result.infolist()] == [
            ("metadata.json", ZIP_EPOCH),
            ("config.json", ZIP_EPOCH),
            ("model.weights.h5", ZIP_EPOCH),
        ]
        assert result.getinfo("model.weights.h5").compress_type == zipfile.ZIP_DEFLATED
        assert json.loads(result.read("metadata.json")) == {"keras_version": "3", "date_saved": KERAS_DATE}
        # numbered in order of appearance: what was shared stays shared
        assert json.loads(result.read("config.json")) == {
            "dtype": {"shared_object_id": 0},
            "layers": [{"shared_object_id": 0}, {"shared_object_id": 1}],
        }
        assert result.read("model.weights.h5") == WEIGHTS
