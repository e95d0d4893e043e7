"""`make bench`: the pipeline measured against the seed tutorial, side by side on this machine.

Every comparison runs its contenders in the same invocation, alternating, several times each, after
one untimed warm-up (page cache, bytecode). Ratios are the headline; absolute times are context.
Writes benchmarks/results.json and benchmarks/results.md, and puts the table into README.md between
the `bench:start` / `bench:end` markers.

Runs in a scratch copy of the repository, with its own MLflow store, so the user's models, dvc.lock
and MLflow runs are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "src"))

from mnist_ann.provenance import cpu_model  # noqa: E402


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def summary(seconds: list[float]) -> dict:
    return {"median_s": round(statistics.median(seconds), 2), "min_s": round(min(seconds), 2),
            "runs_s": [round(s, 2) for s in seconds]}


def scratch_repo(parent: Path) -> Path:
    """A copy of the pipeline with the preprocessed data, as a fresh git + DVC repository."""
    copy = parent / "repo"
    copy.mkdir()
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, copy / name)
    for folder in ("pipeline", "src", "data/processed"):
        shutil.copytree(REPO / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=copy, check=True)
    return copy


def bench_training(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """1. The train stage as a whole process (`dvc repro --force -s train`: imports, tracking, model
    logging included) vs the seed tutorial's own script as a whole process, on the same data."""
    repo = scratch_repo(workdir)
    seed_out = workdir / "seed-out"
    seed_out.mkdir()
    seed_cmd = [sys.executable, str(REPO / "benchmarks" / "seed_tutorial.py"), str(REPO / "data" / "raw" / "mnist.npz"), str(seed_out)]
    stage_cmd = [str(BIN / "dvc"), "repro", "--force", "-s", "train"]
    # What every Keras program here pays before its first line of work, the seed included.
    import_cmd = [sys.executable, "-c", "import tensorflow; from tensorflow import keras; keras.Sequential"]
    timed(seed_cmd, workdir, env)
    timed(stage_cmd, repo, env)
    seed_times, stage_times, import_times, seed_accuracy = [], [], [], None
    for _ in range(repeats):
        seconds, out = timed(seed_cmd, workdir, env)
        seed_times.append(seconds)
        seed_accuracy = float(re.search(r"test_accuracy ([0-9.]+)", out).group(1))
        stage_times.append(timed(stage_cmd, repo, env)[0])
        import_times.append(timed(import_cmd, workdir, env)[0])
    stage_accuracy = json.loads((repo / "metrics" / "train.json").read_text())["val_accuracy"]
    fit_seconds = _last_fit_seconds(env)
    return {
        "seed_script": {**summary(seed_times), "test_accuracy": seed_accuracy},
        "train_stage": {**summary(stage_times), "test_accuracy": round(stage_accuracy, 4), "fit_s": fit_seconds},
        "tensorflow_import": summary(import_times),
        "speedup_median": round(statistics.median(seed_times) / statistics.median(stage_times), 2),
        "speedup_beyond_import": round(
            (statistics.median(seed_times) - statistics.median(import_times))
            / (statistics.median(stage_times) - statistics.median(import_times)), 2),
    }


def _last_fit_seconds(env: dict[str, str]) -> float | None:
    """The train stage logs its fit time to MLflow; the last run's, for context."""
    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["start_time DESC"], max_results=1)
    return round(runs[0].data.metrics.get("fit_seconds", float("nan")), 2) if runs else None


def versions() -> dict[str, str]:
    names = ("tensorflow-cpu", "keras", "numpy", "mlflow", "dvc", "onnxruntime")
    return {name: metadata.version(name) for name in names}


def markdown(results: dict) -> str:
    machine = results["machine"]
    training = results["training"]
    rows = [
        "| comparison | ours | baseline | ratio |",
        "| --- | --- | --- | --- |",
        f"| training, whole process: train stage vs seed script (median of {results['repeats']}) "
        f"| {training['train_stage']['median_s']} s (fit {training['train_stage']['fit_s']} s), "
        f"test acc {training['train_stage']['test_accuracy']} "
        f"| {training['seed_script']['median_s']} s, test acc {training['seed_script']['test_accuracy']} "
        f"| **{training['speedup_median']}x** faster |",
        f"| the same, less the {training['tensorflow_import']['median_s']} s that both spend importing TensorFlow/Keras "
        f"| {round(training['train_stage']['median_s'] - training['tensorflow_import']['median_s'], 2)} s "
        f"| {round(training['seed_script']['median_s'] - training['tensorflow_import']['median_s'], 2)} s "
        f"| {training['speedup_beyond_import']}x |",
    ]
    header = (f"Measured by `make bench` on {machine['cpu']}, {machine['cores']} cores, {results['date']}; "
              + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".")
    return header + "\n\n" + "\n".join(rows) + "\n"


def update_readme(table: str) -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        readme.write_text(f"{before}{start}\n{table}{end}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender (default 3)")
    args = parser.parse_args()
    if not (REPO / "data" / "processed" / "x_train.npy").exists():
        subprocess.run([str(BIN / "dvc"), "repro", "preprocess"], cwd=REPO, check=True,
                       env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    with tempfile.TemporaryDirectory(prefix="mnist-ann-bench-") as scratch:
        workdir = Path(scratch)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
               "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
        env.pop("DVC_ROOT", None)
        results = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
            "versions": versions(),
            "repeats": args.repeats,
            "training": bench_training(workdir, env, args.repeats),
        }
    (REPO / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (REPO / "benchmarks" / "results.md").write_text(table)
    update_readme(table)
    print(table)


if __name__ == "__main__":
    main()
