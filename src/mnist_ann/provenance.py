"""Where a run came from: git state, DVC experiment, data hash, library
versions and CPU. Plain strings, for tags; reading them never fails the pipeline."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "mlflow", "dvc", "onnx", "tf2onnx", "onnxruntime")


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def data_hash(root: Path, stage: str = "preprocess") -> str | None:
    """The md5 DVC recorded in dvc.lock for the first output of `stage`: which data trained this."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text())
        return lock["stages"][stage]["outs"][0]["md5"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance_tags(workdir: Path | None = None) -> dict[str, str]:
    """Tags for a run. `workdir` is where the stage's code runs (an experiment's copy of the repo
    under `dvc exp run`), so the commit is the one the experiment was made from."""
    workdir = workdir or Path.cwd()
    status = _git(workdir, "status", "--porcelain", "--untracked-files=no")
    tags = {
        "mlflow.source.git.commit": _git(workdir, "rev-parse", "HEAD"),
        "git.dirty": None if status is None else str(bool(status)).lower(),
        "dvc.experiment": os.environ.get("DVC_EXP_NAME"),
        "data.md5": data_hash(workdir),
        "cpu": f"{cpu_model()} ({os.cpu_count()} cores)",
        "python": platform.python_version(),
    }
    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            tags[f"version.{package}"] = metadata.version(package)
    return {key: value for key, value in tags.items() if value is not None}
