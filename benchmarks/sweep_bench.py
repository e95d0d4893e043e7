"""`make bench` row for a queued sweep: four small experiments queued with `dvc exp run --queue` and run
by `dvc exp run --run-all --jobs 2`, as docs/experiments.md tells a user to, in a scratch repository whose
download and preprocess stages DVC restores from its run cache. The figure is experiments per minute,
from the command's start to the end of the last experiment's MLflow run, so that DVC's known hang
after a queue empties (treeverse/dvc#10428; the tests' helper explains it) is not counted."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

from workload import BIN, REPO

# Four small experiments: one epoch each, four learning rates; every stage after preprocess runs.
EXPERIMENTS = [["-S", "train.epochs=1", "-S", f"train.learning_rate={rate}"] for rate in (0.01, 0.005, 0.002, 0.001)]
JOBS = 2


def bench_sweep(workdir: Path, env: dict[str, str], source: Path = REPO, name: str = "sweep") -> dict:
    """Experiments per minute of the sweep on the pipeline in `source` (this tree, or a checkout of
    an earlier commit to compare with)."""
    repo = _committed_repo(source, workdir / name)
    store = f"sqlite:///{repo.parent / f'{name}-mlflow.db'}"
    # The copy's own package first: the environment's editable install points at this tree's src.
    env = {**env, "MLFLOW_TRACKING_URI": store, "PYTHONPATH": str(repo / "src")}
    _dvc(repo, env, "repro")  # the baseline: data cached, download and preprocess in the run cache
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "baseline")
    for options in EXPERIMENTS:
        _dvc(repo, env, "exp", "run", "--queue", *options)
    started = time.time()
    command = [str(BIN / "dvc"), "exp", "run", "--run-all", "--jobs", str(JOBS)]
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ends = _wait_for_runs(store, len(EXPERIMENTS) + 1, process, repo)
    seconds = max(ends) - started
    return {
        "experiments": len(EXPERIMENTS),
        "jobs": JOBS,
        "seconds": round(seconds, 1),
        "experiments_per_minute": round(len(EXPERIMENTS) * 60 / seconds, 2),
    }


def _wait_for_runs(store: str, count: int, process: subprocess.Popen, repo: Path, timeout=1800) -> list[float]:
    """End times (seconds) of the store's runs once `count` of them have ended, the baseline's
    included; stops the queue's workers if DVC keeps waiting after that."""
    import mlflow

    client = mlflow.MlflowClient(store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, filter_string="attributes.status = 'FINISHED'", max_results=100)
        done = [r for r in runs if r.data.tags.get("mnist_ann.completed.export") == "true"]
        if len(done) >= count:
            if process.poll() is None:
                subprocess.run([str(BIN / "dvc"), "queue", "stop"], cwd=repo, check=False, capture_output=True)
                process.wait(120)
            return [r.info.end_time / 1000 for r in done]
        if process.poll() is not None and process.returncode != 0:
            raise SystemExit(f"the sweep failed:\n{process.stderr.read().decode()[-2000:]}")
    process.kill()
    raise SystemExit("the sweep did not finish in time")


def _committed_repo(source: Path, repo: Path) -> Path:
    """The pipeline of `source` as a fresh git + DVC repository (its download stage fills it from
    the download cache)."""
    repo.mkdir()
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore", ".gitignore"):
        if (source / name).exists():
            shutil.copy(source / name, repo / name)
    for folder in ("pipeline", "src"):
        shutil.copytree(source / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _git(repo, "init", "-q")
    _dvc(repo, None, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline")
    return repo


def _dvc(repo: Path, env: dict[str, str] | None, *args: str) -> None:
    subprocess.run([str(BIN / "dvc"), *args], cwd=repo, env=env, check=True, capture_output=True)


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "init.defaultBranch=main"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


def sweep_rows(sweep: dict) -> list[tuple[str, str, str, str]]:
    """10. The sweep now, against the same sweep on the code before issue 15 when it was measured."""
    before = sweep.get("before")
    return [
        (
            f"10. queued sweep: {sweep['experiments']} one-epoch experiments, `dvc exp run --run-all --jobs "
            f"{sweep['jobs']}` (start to the last experiment's MLflow run ending) vs the same on {before['commit']}"
            if before
            else "10. queued sweep: experiments per minute",
            f"{sweep['experiments_per_minute']} exp/min ({sweep['seconds']} s)",
            f"{before['experiments_per_minute']} exp/min ({before['seconds']} s, {before['date']})" if before else "-",
            f"**{round(sweep['experiments_per_minute'] / before['experiments_per_minute'], 2)}x**" if before else "-",
        )
    ]
