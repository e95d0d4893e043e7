"""The fast tier (`make check`): which tests belong to it, and guards that fail a test of the tier the
moment it starts a process, listens on a socket or imports a heavy library, so that the tier stays
under a minute and a half on 2 cores by construction rather than by care.

A test is in the tier unless it is marked slow, network or heavy, or uses a fixture that starts
TensorFlow, a server, a store or a pipeline run (HEAVY_FIXTURES, and whatever depends on them).
A test of the tier that needs one of those is marked `@pytest.mark.heavy` (or its module is, with
`pytestmark`, or named in HEAVY_MODULES where it imports one at the top): `make test` runs every test
either way."""

from __future__ import annotations

import importlib.abc
import multiprocessing.process
import os
import socket
import subprocess
import sys

import pytest

HEAVY_FIXTURES = frozenset(
    {
        "keras_exported",  # TensorFlow
        "trained",  # the train, evaluate and export stages as processes
        "stage_workdir",
        "baseline",  # dvc repro on a copy of the repository
        "repo",
        "mnist_cache",  # the download stage, from the package registry
        "mlflow_store",  # MLflow (its store takes seconds to create)
        "tracking_env",
        "http_server",  # a server on 127.0.0.1
        "closed_port_url",
        "s3_endpoint",  # moto's S3 server
        "s3",
    }
)
HEAVY_LIBRARIES = ("tensorflow", "keras", "tf2onnx", "mlflow", "dvc", "ray")
# Test modules that import one of them at the top: the tier does not even collect them.
HEAVY_MODULES = frozenset(
    {
        "test_command.py",
        "test_lineage.py",
        "test_model.py",
        "test_onnx_export.py",
        "test_stage_train.py",
        "test_tracking.py",
        "test_trained.py",
    }
)


def in_unit_tier(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(name) for name in ("slow", "network", "heavy")):
        return False
    return not HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ()))


def mark_unit_tier(items: list[pytest.Item]) -> None:
    for item in items:
        if in_unit_tier(item):
            item.add_marker(pytest.mark.unit)


class OutsideTheTierError(RuntimeError):
    """A test of the fast tier did what the tier leaves to `make test`."""

    def __init__(self, what: str):
        super().__init__(f"the fast tier does not {what}: mark the test heavy (tests/unit_tier.py)")


class _HeavyImports(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY_LIBRARIES:
            raise OutsideTheTierError(f"import {name}")
        return None


def guard() -> None:
    """From now on in this process: no heavy import, no child process, no listening socket."""

    def refuse(what: str):
        def refused(*args, **kwargs):
            raise OutsideTheTierError(what)

        return refused

    sys.meta_path.insert(0, _HeavyImports())
    subprocess.Popen._execute_child = refuse("start a process")  # type: ignore[method-assign]
    os.fork = refuse("fork")  # type: ignore[assignment]
    os.posix_spawn = refuse("start a process")  # type: ignore[assignment]
    multiprocessing.process.BaseProcess.start = refuse("start a process")  # type: ignore[method-assign]
    socket.socket.listen = refuse("listen on a socket")  # type: ignore[method-assign]
