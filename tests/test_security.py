"""Guarantees that hold by construction, checked over the code and the lock: nothing unpickles
except the array-only unpickler, every np.load refuses pickles, Keras models load in safe mode,
and the pinned dependencies are past the advisories we know of."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from packaging.version import Version

from helpers import REPO

SOURCES = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "pipeline").rglob("*.py"))


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_only_the_restricted_unpickler_unpickles():
    offenders = []
    for path in SOURCES:
        for node, name in calls(path):
            unpickles = name in ("pickle.load", "pickle.loads", "pickle.Unpickler", "cloudpickle.load", "joblib.load")
            if unpickles or (name.endswith("Unpickler") and path.name != "safe_pickle.py"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert offenders == []


def test_every_np_load_refuses_pickles():
    loads = [(path, node) for path in SOURCES for node, name in calls(path) if name in ("np.load", "numpy.load")]
    assert loads, "the check would pass vacuously"
    for path, node in loads:
        allow = {k.arg: ast.unparse(k.value) for k in node.keywords}.get("allow_pickle")
        assert allow == "False", f"{path.relative_to(REPO)}:{node.lineno} np.load without allow_pickle=False"


def test_keras_models_load_in_safe_mode():
    loads = [
        (path, node)
        for path in SOURCES
        for node, name in calls(path)
        if name.endswith("load_model") and "keras" in name
    ]
    assert loads, "the check would pass vacuously"
    for path, node in loads:
        assert {k.arg: ast.unparse(k.value) for k in node.keywords}.get("safe_mode") == "True", f"{path}:{node.lineno}"


def locked_versions() -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", (REPO / "requirements.lock").read_text(), re.M)
    return {name.lower(): Version(version) for name, version in pins}


@pytest.mark.parametrize(
    "package, floor, why",
    [
        ("mlflow", "3.16.1", "basic-auth default password"),
        ("onnx", "1.21", "external-data path traversal"),
        ("keras", "3.9", "safe_mode bypasses fixed in 3.9+"),
        ("pillow", "10.3", "buffer overflow in ImageCms (CVE-2024-28219)"),
    ],
)
def test_lock_is_past_known_advisories(package, floor, why):
    versions = locked_versions()
    assert versions[package] >= Version(floor), f"{package} {versions[package]} < {floor}: {why}"


def test_lock_pins_every_package_with_hashes():
    text = (REPO / "requirements.lock").read_text()
    hashed = re.findall(r"^[A-Za-z0-9_.-]+==\S+(?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+", text, re.M)
    assert len(hashed) == len(locked_versions()) > 100
