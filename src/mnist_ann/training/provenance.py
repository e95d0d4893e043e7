"""Where a run came from: git state, DVC experiment, data hash, library
versions and CPU. Plain strings, for tags; reading them never fails the pipeline."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from ..tracking import tags
from .numerics import numerics_description

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "mlflow", "dvc", "onnx", "tf2onnx", "onnxruntime")


# A workspace's own git config is trusted by git (a tarball the user unpacked is theirs), and some
# of it runs commands while git only reads: the fsmonitor hook, the clean filters (status and diff
# re-read through them every file whose stat changed, as every file of an unpacked tarball has),
# external diff drivers, and all of these again in submodules. Options on the command line win
# over every config file: these turn them off (`mnist-ann card DIR` ran a workspace's fsmonitor).
NOTHING_RUN = ("-c", "core.fsmonitor=false", "-c", "diff.external=", "-c", "core.hooksPath=/dev/null")


def _git(root: Path, *args: str, strip: bool = True) -> str | None:
    try:
        # Tracked files hold any bytes (a Latin-1 README): a diff or a file is not always UTF-8, and a
        # strict decode failed the train stage before it trained. (An undecodable byte counts as
        # U+FFFD in the diff's md5.)
        result = subprocess.run(
            ["git", *NOTHING_RUN, *_no_filters(root), *args],
            cwd=root,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() if strip else result.stdout


def _no_filters(root: Path) -> list[str]:
    """`-c filter.<name>.clean=` (and smudge, process) for every filter driver the config names: an
    empty command is no filter. Reading the config runs nothing."""
    try:
        found = subprocess.run(
            ["git", "config", "-z", "--get-regexp", r"^filter\..*\.(clean|smudge|process)$"],
            cwd=root,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    keys = {entry.split(b"\n", 1)[0].decode("utf-8", "replace") for entry in found.stdout.split(b"\0") if entry}
    drivers = sorted({key.rsplit(".", 1)[0] for key in keys})
    return [
        option
        for driver in drivers
        for kind in ("clean", "smudge", "process")
        for option in ("-c", f"{driver}.{kind}=")
    ]


# What the pipeline itself writes: DVC's lock, and every output that dvc.yaml declares (read from it).
PIPELINE_STATE = ("dvc.lock",)


def pipeline_outputs(root: Path) -> set[str]:
    """The paths that dvc.yaml declares as outputs, metrics or plots of its stages. DVC deletes a
    stage's outputs, git-tracked ones too, before running it: they differ from the commit on every
    run and say nothing about the code or the config."""
    try:
        stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return set()
    paths = set(PIPELINE_STATE)
    for stage in stages.values() if isinstance(stages, dict) else ():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or ():
                paths.update(entry if isinstance(entry, dict) else [entry])
    return {str(path).rstrip("/") for path in paths}


def changed_files(root: Path) -> list[str] | None:
    """The tracked files that differ from the commit, the pipeline's own outputs left out; None
    outside a git checkout."""
    status = _git(
        root,
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=no",
        "--no-renames",
        "--ignore-submodules=all",
        strip=False,
    )
    if status is None:
        return None
    outputs = pipeline_outputs(root)
    paths = [entry[3:] for entry in status.split("\0") if len(entry) > 3]  # "XY path", unquoted with -z
    return [p for p in paths if not any(p == out or p.startswith(out + "/") for out in outputs)]


def committed_text(root: Path, path: str | Path) -> str | None:
    """The file at `path` (relative to `root`, or inside it) as the commit has it; None outside
    git, or where the commit lacks it."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(root.resolve())
        except ValueError:
            return None
    return _git(root, "show", "--no-textconv", f"HEAD:./{path.as_posix()}")


def run_label(root: Path, changed_params: dict[str, object]) -> str:
    """A run name that reads in a list of runs: the commit, then what differs from it (parameters
    with their new values, then other changed files), e.g. `3f2a9c1 train.learning_rate=0.005`."""
    commit = _git(root, "rev-parse", "--short=7", "HEAD") or "no-commit"
    changes = [f"{name}={value}" for name, value in changed_params.items()]
    changes += [path for path in changed_files(root) or () if not (changed_params and path == "params.yaml")]
    label = " ".join([commit, ", ".join(changes)]).strip()
    return label if len(label) <= 120 else label[:119] + "…"


def data_hash(root: Path, stage: str = "preprocess") -> str | None:
    """The md5 DVC recorded in dvc.lock for the first output of `stage`: which data trained this."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text())
        return lock["stages"][stage]["outs"][0]["md5"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


def _diff_md5(root: Path, paths: list[str]) -> str | None:
    """The md5 of `git diff HEAD` over `paths`: two runs with the same hash ran the same changes."""
    diff = _git(
        root, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=all", "HEAD", "--", *paths
    )
    return None if diff is None else hashlib.md5(diff.encode()).hexdigest()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The instruction sets that change oneDNN's and onnxruntime's speed, as /proc/cpuinfo's flags name them
SPEED_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI"}


def machine_description() -> str:
    """This machine for a timing: its CPU, cores and the instruction sets that change the speed."""
    try:
        flags_line = next(
            (line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), ""
        )
    except OSError:
        flags_line = ""
    flags = set(flags_line.partition(":")[2].split())
    sets = [shown for flag, shown in SPEED_FLAGS.items() if flag in flags]
    return f"{cpu_model()}, {os.cpu_count()} cores, {', '.join(sets) or 'no AVX2'}"


def provenance_tags(workdir: Path | None = None) -> dict[str, str]:
    """Tags for a run. `workdir` is where the stage's code runs (an experiment's copy of the repo
    under `dvc exp run`), so the commit is the one the experiment was made from."""
    workdir = workdir or Path.cwd()
    changed = changed_files(workdir)
    found = {
        tags.GIT_COMMIT: _git(workdir, "rev-parse", "HEAD"),
        # dirty: the code or config differs from the commit (the pipeline's own outputs do not count)
        tags.GIT_DIRTY: None if changed is None else str(bool(changed)).lower(),
        tags.GIT_CHANGED: ", ".join(changed)[:5000] if changed else None,
        tags.GIT_DIFF_MD5: _diff_md5(workdir, changed) if changed else None,
        tags.DVC_EXPERIMENT: os.environ.get("DVC_EXP_NAME"),
        tags.DATA_MD5: data_hash(workdir),
        tags.CPU: f"{cpu_model()} ({os.cpu_count()} cores)",
        tags.NUMERICS: numerics_description(),
        tags.PYTHON: platform.python_version(),
    }
    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[f"{tags.VERSION_PREFIX}{package}"] = metadata.version(package)
    return {key: value for key, value in found.items() if value is not None}
