"""Keras `.keras` archives: checked before Keras builds anything from them (keras_config_problem),
and written so that their bytes are a function of their contents alone: every entry's time set to the
zip epoch and, for a Keras `.keras` file, the save date in metadata.json fixed and the
`shared_object_id`s of config.json (Python object addresses of the saving process) numbered in
order. Keras writes all three differently at each save, so two saves of the same weights differed,
dvc.lock changed on every `make repro`, and DVC reran every stage after the model for nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from ..core.npy import ZIP_EPOCH
from .params.checks import dense_weights

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


MAX_CONFIG_BYTES = 1 << 20  # config.json of this project's models is ~3 KB
MAX_DEPTH = 64  # nesting of config.json (a Sequential model: under 10)


def keras_config_problem(path: str | Path, max_weights: int) -> str | None:
    """What makes the .keras file at `path` unsafe to hand to Keras, or None: a config.json too
    large or too deeply nested (Keras' own parse recursed until RecursionError), or Dense layers
    whose `units` are not integers or add up to more than `max_weights` weights (Keras would try
    to allocate them: ResourceExhaustedError, or the OOM killer)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                return f"config.json of {info.file_size:,} bytes (at most {MAX_CONFIG_BYTES:,})"
            config = json.loads(archive.read(info))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as exc:
        return f"not a .keras archive with a readable config.json ({type(exc).__name__})"
    units: list[Any] = []
    if not _dense_units(config, units, 0):
        return f"config.json nested deeper than {MAX_DEPTH} levels"
    if not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        return "Dense layers whose units are not positive integers"
    weights = dense_weights(units)
    return f"Dense layers of {weights:,} weights (at most {max_weights:,})" if weights > max_weights else None


def _dense_units(node: Any, units: list[Any], depth: int) -> bool:
    """Collect the `units` of every Dense layer config under `node`, in order; False if too deep."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(node, dict):
        if node.get("class_name") == "Dense" and isinstance(node.get("config"), dict):
            units.append(node["config"].get("units"))
        return all(_dense_units(value, units, depth + 1) for value in node.values())
    if isinstance(node, list):
        return all(_dense_units(item, units, depth + 1) for item in node)
    return True
