"""Zip archives whose bytes are a function of their contents alone: every entry's time set to the
zip epoch and, for a Keras `.keras` file, the save date in metadata.json fixed and the
`shared_object_id`s of config.json (Python object addresses of the saving process) numbered in
order. Keras writes all three differently at each save, so two saves of the same weights differed,
dvc.lock changed on every `make repro`, and DVC reran every stage after the model for nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from .data import ZIP_EPOCH

KERAS_DATE = "1980-01-01@00:00:00"  # Keras's date_saved format, at the zip epoch


def _numbered_shared_objects(node: Any, numbers: dict[int, int]) -> Any:
    """`node` with each distinct shared_object_id replaced by its rank of first appearance: the
    same objects stay shared, and the ids no longer depend on where the saving process put them."""
    if isinstance(node, dict):
        return {
            key: numbers.setdefault(value, len(numbers))
            if key == "shared_object_id" and isinstance(value, int)
            else _numbered_shared_objects(value, numbers)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_numbered_shared_objects(item, numbers) for item in node]
    return node


def make_reproducible(path: str | Path) -> None:
    """Rewrite the zip archive at `path` in place (call it on a temporary file): entries in their
    order, with their compression and permissions, but no times, and a .keras file's metadata.json
    without its save date."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                if "date_saved" in metadata:
                    metadata["date_saved"] = KERAS_DATE
                data = json.dumps(metadata).encode()
            elif info.filename == "config.json":
                data = json.dumps(_numbered_shared_objects(json.loads(data), {})).encode()
            stable = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            stable.compress_type, stable.external_attr = info.compress_type, info.external_attr
            archive.writestr(stable, data)
