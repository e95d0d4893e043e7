"""Faults lose nothing: Ctrl-C and SIGKILL in the middle of a stage under `dvc repro`, a tracking
server that stalls, and a full disk under `mnist-ann predict` (four experiments at once against one
SQLite store: tests/test_workflows.py). After each: dvc.lock as it was, no torn or temporary file, no MLflow run left
RUNNING, and the next `dvc repro` recovers by itself."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from servers import misbehaving_server

from helpers import (
    REPO,
    VENV_BIN,
    all_runs,
    declared_outputs,
    dvc,
    popen_with_default_signals,
    ran,
    run_script,
    store,
    write_params,
)
from mnist_ann.tracking.bounds import DEADLINE_VARIABLE

pytestmark = [pytest.mark.slow, pytest.mark.network]

# The files whose contents a torn write would break (folders and CSVs are checked by DVC's own hashes).
DECLARED = [path for path in declared_outputs() if Path(path).suffix in (".npz", ".keras", ".onnx", ".json")]


def interrupt_repro(repo: Path, marker: str, sig: int, *args: str, stage: str | None = None) -> tuple[int, str]:
    """Start `dvc repro *args` in its own process group, wait for `marker` in its output, then send
    `sig` to the whole group (as a terminal's Ctrl-C does for SIGINT), or with `stage` to that stage's
    process alone (as `kill <pid>` does)."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = popen_with_default_signals(
        [str(VENV_BIN / "dvc"), "repro", *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen, found = [], threading.Event()

    def read():
        for line in process.stdout:
            seen.append(line)
            if marker in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    target, deadline = None, time.monotonic() + 240
    while not found.wait(0.05):  # find the stage's process while it imports, to signal it at once
        assert time.monotonic() < deadline, "".join(seen)[-3000:]
        if stage is not None and target is None:
            with contextlib.suppress(AssertionError):
                target = stage_process(process.pid, f"pipeline/{stage}.py")
    if stage is None:
        os.killpg(process.pid, sig)
    else:
        os.kill(target or stage_process(process.pid, f"pipeline/{stage}.py"), sig)
    code = process.wait(120)
    reader.join(10)
    return code, "".join(seen)


def stage_process(parent: int, script: str) -> int:
    """The pid of the process below `parent` that runs `script`: the one with `script` as an argument
    of its own, not the shell DVC starts it through (`sh -c "python <script> ..."`, which dash does not
    replace by the command it runs)."""
    waiting = [parent]
    while waiting:
        pid = waiting.pop()
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            if pid != parent and script in arguments[1:]:
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                waiting += map(int, (task / "children").read_text().split())
    raise AssertionError(f"no process runs {script}")


def assert_nothing_torn(repo: Path) -> None:
    temporary = [p for p in repo.rglob(".*.tmp*") if ".dvc" not in p.parts and ".git" not in p.parts]
    assert temporary == [], temporary
    for name in DECLARED:
        path = repo / name
        if not path.exists():
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".onnx":
            import onnx

            onnx.checker.check_model(str(path))
        elif path.suffix == ".keras":
            from mnist_ann.training.model import load_model

            load_model(path)


# SIGKILL mid-training is not a case of its own (each case retrains, ~70 s of the suite's budget): a
# stage killed outright under dvc repro is the rerun test's SIGKILL case below, the dead writer's
# temporary files are test_atomic's, and its RUNNING run test_tracking's.
CASES = [
    ("train", "INFO train: epoch 1:", signal.SIGINT),
    ("export", "INFO export: converting", signal.SIGINT),
]


@pytest.mark.parametrize("stage, marker, sig", CASES, ids=[f"{s}-{signal.Signals(g).name}" for s, _, g in CASES])
def test_interrupted_stage_loses_nothing_and_recovers(repo, stage, marker, sig):
    write_params(repo / "params.yaml", {"train.learning_rate": 0.005})  # train, evaluate and export must run again
    lock_before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    code, output = interrupt_repro(repo, marker, sig)
    assert code != 0, output[-2000:]
    # DVC records each stage as it completes; the interrupted one, and those after it, keep their entry.
    lock_after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    later = ("train", "evaluate", "export")[("train", "evaluate", "export").index(stage) :]
    assert {s: lock_after[s] for s in later} == {s: lock_before[s] for s in later}
    if sig == signal.SIGINT:
        assert_nothing_torn(repo)
        assert all(run.info.status != "RUNNING" for run in all_runs(repo))
        assert all_runs(repo)[-1].info.status in ("KILLED", "FAILED")
    else:  # nothing can run at SIGKILL: the next run cleans up
        assert all_runs(repo)[-1].info.status == "RUNNING"

    assert ran(dvc(repo, "repro")) == set(later)  # the next run picks up where it stopped
    assert_nothing_torn(repo)
    statuses = [run.info.status for run in all_runs(repo)]
    assert statuses[-1] == "FINISHED" and "RUNNING" not in statuses
    assert dvc(repo, "status").stdout.strip() == "Data and pipelines are up to date."
    # the finished pipeline's run has everything: evaluate's metrics and the registered ONNX version
    final = all_runs(repo)[-1]
    assert "test_accuracy" in final.data.metrics and "parity_max_abs_diff" in final.data.metrics
    assert store(repo).search_model_versions(f"run_id = '{final.info.run_id}'")


@pytest.mark.parametrize("kind", ["stall", "drip"])
def test_stalled_tracking_server_ends_the_stage_within_30_s(tmp_path, mlflow_store, kind):
    """A server that accepts connections and never answers, or answers 200 and sends a byte every
    2 s (no read ever times out): the default deadline, not a test's."""
    from helpers import tiny_mnist
    from mnist_ann.core.mnist import preprocess
    from mnist_ann.core.npy import save_npy

    arrays = tiny_mnist(train=32, test=8)
    for split in ("train", "test"):
        save_npy(tmp_path / "data" / f"x_{split}.npy", preprocess(arrays[f"x_{split}"]))
        save_npy(tmp_path / "data" / f"y_{split}.npy", arrays[f"y_{split}"])
    started = time.monotonic()
    with misbehaving_server(kind) as uri:
        result = run_script(
            REPO / "pipeline" / "train.py",
            "--params",
            REPO / "params.yaml",
            "--data",
            tmp_path / "data",
            "--model",
            tmp_path / "m.keras",
            "--metrics",
            tmp_path / "t.json",
            "--history",
            tmp_path / "h.csv",
            "--plots",
            tmp_path / "plots",
            env={"MLFLOW_TRACKING_URI": uri, DEADLINE_VARIABLE: ""},
            timeout=120,
        )
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: MLflow tracking at {uri} is unavailable: "), result.stderr[-2000:]
    assert kind == "stall" or last.endswith("no whole answer within 15 s (the server stalls, or drips its answers)")
    assert not (tmp_path / "m.keras").exists()  # failed before any training


def test_full_disk_under_predict_keeps_the_previous_output(exported, tmp_path):
    """A file-size limit stands in for a full disk: writes past it fail with an OSError."""
    _, model_path = exported
    np.save(tmp_path / "many.npy", np.zeros((5000, 28, 28), np.uint8))
    (tmp_path / "out.csv").write_text("previous results\n")

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-m",
            "mnist_ann.cli",
            "predict",
            "--model",
            str(model_path),
            str(tmp_path / "many.npy"),
            "--output",
            str(tmp_path / "out.csv"),
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'out.csv'}: File too large"
    assert (tmp_path / "out.csv").read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.npy", "out.csv"]


def test_fault_tests_send_signals_that_arrive_however_the_suite_is_started():
    """Issue 11: started as `make test &` from a script, the suite inherits SIGINT as ignored and
    the Ctrl-C tests failed. Their children must start with the default disposition; so too under
    `nohup`, which leaves SIGHUP ignored."""
    sent = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sent}  # as a background job of a script
    try:
        child = popen_with_default_signals(
            [sys.executable, "-c", "print(open('/proc/self/status').read())"], stdout=subprocess.PIPE, text=True
        )
        status = child.communicate(timeout=30)[0]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", status).group(1), 16)
    assert [sig.name for sig in sent if ignored & (1 << (sig - 1))] == []


RERUN_CASES = [(signal.SIGINT, None), (signal.SIGTERM, "evaluate"), (signal.SIGKILL, "evaluate")]


@pytest.mark.parametrize("sig, target", RERUN_CASES, ids=[signal.Signals(s).name for s, _ in RERUN_CASES])
def test_a_stage_stopped_while_run_again_leaves_the_finished_run_finished(repo, sig, target):
    """`dvc repro --force` of a stage that completed before, stopped just after it reopened the
    pipeline's run: the next `dvc repro` restores the stage from DVC's run cache without running
    anything, so the run must already be FINISHED, with everything logged, when the stage stops."""
    run = all_runs(repo)[-1]
    assert run.info.status == "FINISHED" and "test_accuracy" in run.data.metrics
    code, output = interrupt_repro(repo, "MLflow run ", sig, "--force", "--single-item", "evaluate", stage=target)
    assert code != 0, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    if sig != signal.SIGKILL:
        assert ("terminated" if sig == signal.SIGTERM else "interrupted") in output

    assert ran(dvc(repo, "repro")) == set()  # restored from the run cache: nothing of ours runs
    assert dvc(repo, "status").stdout.strip() == "Data and pipelines are up to date."
    again = store(repo).get_run(run.info.run_id)
    assert again.info.status == "FINISHED"
    assert again.data.metrics["test_accuracy"] == run.data.metrics["test_accuracy"]
    assert [r.info.status for r in all_runs(repo)].count("RUNNING") == 0
