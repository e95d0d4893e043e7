"""`make bench`: the pipeline measured against the seed tutorial, side by side on this machine.

Every comparison runs its contenders in the same invocation, alternating, several times each, after
one untimed warm-up (page cache, bytecode). Ratios are the headline; absolute times are context.
Writes benchmarks/results.json and benchmarks/results.md, and puts the table into docs/benchmarks.md
between the `bench:start` / `bench:end` markers.

Runs in a scratch copy of the repository, with its own MLflow store, so the user's models, dvc.lock
and MLflow runs are left alone.
"""

from __future__ import annotations

import argparse
import csv
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

from workload import BIN, REPO, predict_command, summary, test_images, timed, timed_in_turn, write_pngs, write_tiled_npy

sys.path.insert(0, str(REPO / "src"))

from cluster_bench import bench_cluster
from int8_bench import bench_int8, int8_rows
from monitoring_bench import bench_monitoring, monitoring_rows
from photo_bench import bench_photos, photo_rows
from sweep_bench import bench_sweep, sweep_rows

from mnist_ann.training.provenance import cpu_model


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
    seed_cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "seed_tutorial.py"),
        str(REPO / "data" / "raw" / "mnist.npz"),
        str(seed_out),
    ]
    stage_cmd = [str(BIN / "dvc"), "repro", "--force", "-s", "train"]
    # What every Keras program here pays before its first line of work, the seed included.
    import_cmd = [sys.executable, "-c", "import tensorflow; from tensorflow import keras; keras.Sequential"]
    # The same stage with TensorFlow's own numerics (oneDNN where TF turns it on, every core): what
    # pinning them for the same bits on every CPU costs (issue 23).
    native_env = {**env, "MNIST_ANN_NUMERICS": "native"}
    timed(seed_cmd, workdir, env)
    timed(stage_cmd, repo, env)
    seed_times, stage_times, native_times, import_times, seed_accuracy = [], [], [], [], None
    fits, native_fits = [], []
    for _ in range(repeats):
        seconds, out = timed(seed_cmd, workdir, env)
        seed_times.append(seconds)
        seed_accuracy = float(re.search(r"test_accuracy ([0-9.]+)", out).group(1))
        stage_times.append(timed(stage_cmd, repo, env)[0])
        fits.append(_last_fit_seconds(env))
        stage_accuracy = json.loads((repo / "metrics" / "train.json").read_text())["val_accuracy"]
        native_times.append(timed(stage_cmd, repo, native_env)[0])
        native_fits.append(_last_fit_seconds(env))
        native_accuracy = json.loads((repo / "metrics" / "train.json").read_text())["val_accuracy"]
        import_times.append(timed(import_cmd, workdir, env)[0])
    return {
        "seed_script": {**summary(seed_times), "test_accuracy": seed_accuracy},
        "train_stage": {
            **summary(stage_times),
            "test_accuracy": round(stage_accuracy, 4),
            "fit_s": statistics.median(fits),
        },
        "train_stage_native_numerics": {
            **summary(native_times),
            "test_accuracy": round(native_accuracy, 4),
            "fit_s": statistics.median(native_fits),
        },
        "pinned_over_native": round(statistics.median(stage_times) / statistics.median(native_times), 2),
        "tensorflow_import": summary(import_times),
        "speedup_median": round(statistics.median(seed_times) / statistics.median(stage_times), 2),
        "speedup_beyond_import": round(
            (statistics.median(seed_times) - statistics.median(import_times))
            / (statistics.median(stage_times) - statistics.median(import_times)),
            2,
        ),
    }


def bench_augmented_epoch(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """1c. An epoch with every distortion of `make robust` vs a plain one, the seed's network on
    the full training set, taking turns in one process (benchmarks/augmented_epoch.py)."""
    script = [sys.executable, str(REPO / "benchmarks" / "augmented_epoch.py"), str(REPO / "data" / "processed")]
    done = subprocess.run([*script, str(max(3, repeats))], cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"augmented_epoch.py failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _last_fit_seconds(env: dict[str, str]) -> float | None:
    """The train stage logs its fit time to MLflow; the last run's, for context."""
    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["start_time DESC"], max_results=1)
    return round(runs[0].data.metrics.get("fit_seconds", float("nan")), 2) if runs else None


def timed_with_rss(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M", *command], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return seconds, int(re.findall(r"MAXRSS (\d+)", result.stderr)[-1]) / 1024


def bench_inference(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """2. Throughput on the test set tiled to 100k images: `mnist-ann predict` as a whole process
    (CSV written) vs raw in-process onnxruntime vs Keras `model.predict`.
    3. Latency for one image: onnxruntime vs Keras `model(x)` vs `model.predict(x)`."""
    import numpy as np
    import onnxruntime

    from mnist_ann.core.mnist import preprocess
    from mnist_ann.core.onnx_model import PROVIDERS

    images = workdir / "x100k.npy"
    np.save(images, test_images(100_000))
    model = REPO / "models" / "model.onnx"
    command = predict_command(images, workdir / "p.csv")
    timed(command, workdir, env)
    cli_times = [timed(command, workdir, env)[0] for _ in range(repeats)]
    parquet = predict_command(images, workdir / "p.parquet")
    timed(parquet, workdir, env)
    parquet_times = [timed(parquet, workdir, env)[0] for _ in range(repeats)]
    np.save(workdir / "x10.npy", test_images(10))  # what a whole process costs before its first image
    fixed_times = [
        timed(predict_command(workdir / "x10.npy", workdir / "p10.parquet"), workdir, env)[0] for _ in range(repeats)
    ]

    session = onnxruntime.InferenceSession(str(model), providers=PROVIDERS)
    x = preprocess(np.load(images))
    run = lambda batch: session.run(None, {"pixels": batch})
    run(x[:10000])
    raw_times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(x), 10000):
            run(x[start : start + 10000])
        raw_times.append(time.perf_counter() - started)
    one = x[:1]
    for _ in range(50):
        run(one)
    latencies = []
    for _ in range(500):
        started = time.perf_counter()
        run(one)
        latencies.append(time.perf_counter() - started)

    keras = json.loads(
        timed(
            [
                sys.executable,
                str(REPO / "benchmarks" / "keras_timings.py"),
                str(REPO / "models" / "model.keras"),
                str(images),
            ],
            workdir,
            env,
        )[1]
    )
    cli_rate = len(x) / statistics.median(cli_times)
    raw_rate = len(x) / statistics.median(raw_times)
    parquet_rate = len(x) / statistics.median(parquet_times)
    past_fixed = len(x) / (statistics.median(parquet_times) - statistics.median(fixed_times))
    return {
        "images": len(x),
        "predict_cli": {**summary(cli_times), "images_per_s": round(cli_rate)},
        "predict_parquet": {**summary(parquet_times), "images_per_s": round(parquet_rate)},
        "fixed_10_images_parquet": summary(fixed_times),
        "parquet_share_of_raw_onnxruntime": round(parquet_rate / raw_rate, 3),
        "parquet_share_past_fixed_cost": round(past_fixed / raw_rate, 3),
        "onnxruntime_in_process": {**summary(raw_times), "images_per_s": round(raw_rate)},
        "keras_predict": {
            "images_per_s": round(keras["predict_images_per_s"]),
            "batch_10k_images_per_s": round(keras["predict_batch_10k_images_per_s"]),
        },
        "cli_share_of_raw_onnxruntime": round(cli_rate / raw_rate, 3),
        "cli_vs_keras_predict": round(cli_rate / keras["predict_images_per_s"], 2),
        "cli_vs_keras_predict_batch_10k": round(cli_rate / keras["predict_batch_10k_images_per_s"], 2),
        "latency_ms": {
            "onnxruntime": round(1000 * statistics.median(latencies), 3),
            "keras_call": round(keras["call_latency_ms"], 3),
            "keras_predict": round(keras["predict_latency_ms"], 3),
        },
    }


def bench_image_folder(
    workdir: Path, env: dict[str, str], repeats: int, count: int = 10_000, unframed: bool = True
) -> dict:
    """4. A folder of PNGs written from the test set: `mnist-ann predict` (whole process) vs a
    single-process Pillow decode loop (whole process too: the same start-up is paid); and (4b,
    `unframed`) predict without framing."""
    folder = workdir / f"pngs-{count}"
    write_pngs(folder, count)
    loop = [
        sys.executable,
        "-c",
        "import os, sys, numpy as np\nfrom PIL import Image\nd = sys.argv[1]\n"
        "digits = [np.asarray(Image.open(os.path.join(d, f)).convert('L')) for f in sorted(os.listdir(d))]",
        str(folder),
    ]
    ours = predict_command(folder, workdir / "png.csv")
    without_framing = predict_command(folder, workdir / "png.csv", "--frame", "none", "--background", "dark")
    commands = {"pillow_loop": loop, "predict_cli": ours, **({"predict_unframed": without_framing} if unframed else {})}
    times = timed_in_turn(commands, workdir, env, repeats)
    medians = {name: statistics.median(values) for name, values in times.items()}
    shutil.rmtree(folder)
    return {
        "images": count,
        **{name: summary(values) for name, values in times.items()},
        "speedup_median": round(medians["pillow_loop"] / medians["predict_cli"], 2),
        **({"framing_cost": round(medians["predict_cli"] / medians["predict_unframed"], 2)} if unframed else {}),
    }


def bench_image_folders(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """Rows 4-4c: 10k PNGs (with and without framing), then 100k."""
    return {
        "image_folder": {**bench_image_folder(workdir, env, repeats), "date": _today()},
        "image_folder_100k": {
            **bench_image_folder(workdir, env, max(1, repeats - 1), 100_000, unframed=False),
            "date": _today(),
        },
    }


def bench_own_images(workdir: Path, env: dict[str, str]) -> dict:
    """8. Accuracy of the pipeline's model on digits MNIST did not make (the test suite's font
    digits: tight white-on-black crops, and dark-on-light scans off-centre on a larger noisy page)
    and on MNIST's own test digits as PNGs, through `mnist-ann predict` as it was (no framing, dark
    background or --invert) and as it is by default (--frame mnist --background auto). Inputs that
    predict reports instead of scoring count as wrong."""
    sys.path.insert(0, str(REPO / "tests"))
    from PIL import Image

    from helpers import font_crops, font_scans
    from mnist_ann.core.npy import load_npz

    raw = load_npz(REPO / "data" / "raw" / "mnist.npz")
    mnist_pngs = [(int(label), Image.fromarray(digit)) for digit, label in zip(raw["x_test"][:2000], raw["y_test"])]
    sets = {"crops": font_crops(1000, seed=1), "scans": font_scans(1000, seed=2), "mnist_pngs": mnist_pngs}
    ways = {
        "unframed_dark": ["--frame", "none", "--background", "dark"],
        "unframed_light": ["--frame", "none", "--background", "light"],
        "default": [],
    }
    results = {}
    for name, pictures in sets.items():
        folder = workdir / f"own-{name}"
        folder.mkdir()
        for i, (label, picture) in enumerate(pictures):
            picture.save(folder / f"{i:05d}-{label}.png")
        results[name] = {}
        for way, options in ways.items():
            output = workdir / f"own-{name}-{way}.csv"
            subprocess.run(predict_command(folder, output, *options), cwd=workdir, env=env, capture_output=True)
            with open(output) as fp:
                rows = list(csv.DictReader(fp))
            right = sum(row["label"] == Path(row["source"]).stem.split("-")[1] for row in rows)
            results[name][way] = round(right / len(pictures), 4)
    return results


def bench_memory(workdir: Path, env: dict[str, str]) -> dict:
    """5. Peak RSS of `mnist-ann predict` on a memory-mapped .npy of 1M images vs 100k."""
    small, large = workdir / "x100k.npy", workdir / "x1m.npy"
    write_tiled_npy(large, 1_000_000)
    figures = {}
    for name, path in (("100k", small), ("1M", large)):
        command = predict_command(path, workdir / f"mem-{name}.csv", "--no-probabilities")
        seconds, peak = timed_with_rss(command, workdir, env)
        figures[name] = {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}
    large.unlink()
    figures["growth_1M_over_100k"] = round(figures["1M"]["peak_rss_mb"] / figures["100k"]["peak_rss_mb"], 2)
    # 5b. the same 100k images stored Fortran-ordered (column-major), read with file reads, not the map
    import numpy as np

    fortran = workdir / "x100k-fortran.npy"
    np.save(fortran, np.asfortranarray(np.load(small)))
    command = predict_command(fortran, workdir / "mem-fortran.csv", "--no-probabilities")
    seconds, peak = timed_with_rss(command, workdir, env)
    figures["100k_fortran"] = {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}
    fortran.unlink()
    return figures


def bench_pipeline(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """6. The whole pipeline, `dvc repro --force` (download served from the cache), vs the seed
    script alone."""
    repo = workdir / "repo"  # made by bench_training, or here when this row runs alone (--only pipeline)
    if not repo.exists():
        scratch_repo(workdir)
    (workdir / "seed-out").mkdir(exist_ok=True)
    seed_cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "seed_tutorial.py"),
        str(REPO / "data" / "raw" / "mnist.npz"),
        str(workdir / "seed-out"),
    ]
    pipeline_cmd = [str(BIN / "dvc"), "repro", "--force"]
    timed(pipeline_cmd, repo, env)
    seed_times, pipeline_times = [], []
    for _ in range(repeats):
        pipeline_times.append(timed(pipeline_cmd, repo, env)[0])
        seed_times.append(timed(seed_cmd, workdir, env)[0])
    return {
        "pipeline": summary(pipeline_times),
        "seed_script": summary(seed_times),
        "pipeline_over_seed": round(statistics.median(pipeline_times) / statistics.median(seed_times), 2),
    }


def bench_cold_start(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """7. `mnist-ann predict --help` and a 10-image predict vs `python -c "import tensorflow"`."""
    import numpy as np

    np.save(workdir / "x10.npy", test_images(10))
    commands = {
        "predict_help": [str(BIN / "mnist-ann"), "predict", "--help"],
        "predict_10_images": predict_command(workdir / "x10.npy", workdir / "x10.csv"),
        "import_tensorflow": [sys.executable, "-c", "import tensorflow"],
    }
    figures = {}
    for name, command in commands.items():
        timed(command, workdir, env)
        figures[name] = summary([timed(command, workdir, env)[0] for _ in range(max(repeats, 3))])
    figures["tensorflow_over_predict_10"] = round(
        figures["import_tensorflow"]["median_s"] / figures["predict_10_images"]["median_s"], 1
    )
    return figures


def versions() -> dict[str, str]:
    names = ("tensorflow-cpu", "keras", "numpy", "mlflow", "dvc", "onnxruntime")
    return {name: metadata.version(name) for name in names}


def markdown(results: dict) -> str:
    m, t, i, f, mem, p, c, o = (
        results[k]
        for k in ("machine", "training", "inference", "image_folder", "memory", "pipeline", "cold_start", "own_images")
    )
    r, f100 = results["repeats"], results.get("image_folder_100k")
    rows = [
        (
            "1. training, whole process: `dvc repro --force -s train` vs the seed script",
            f"{t['train_stage']['median_s']} s (fit {t['train_stage']['fit_s']} s), "
            f"test acc {t['train_stage']['test_accuracy']}",
            f"{t['seed_script']['median_s']} s, test acc {t['seed_script']['test_accuracy']}",
            f"**{t['speedup_median']}x** (target 1.8x)",
        ),
        (
            "1a. the cost of the same bits on every CPU: the train stage, pinned numerics vs TensorFlow's own",
            f"{t['train_stage']['median_s']} s (fit {t['train_stage']['fit_s']} s)",
            f"{t['train_stage_native_numerics']['median_s']} s (fit {t['train_stage_native_numerics']['fit_s']} s), "
            f"test acc {t['train_stage_native_numerics']['test_accuracy']}",
            f"**{t['pinned_over_native']}x** the time",
        ),
        *(
            [
                (
                    "1c. train.augment: an epoch with every distortion of `make robust` vs a plain one "
                    "(seed's network, 60k images)",
                    f"{a['augmented']} s (distortion alone {a['distortion_alone']} s)",
                    f"{a['plain']} s",
                    f"**{a['ratio']}x** the time (target <= 1.5x)",
                )
            ]
            if (a := results.get("augmented_epoch"))
            else []
        ),
        (
            f"1b. the same, less the {t['tensorflow_import']['median_s']} s both spend importing TensorFlow/Keras",
            f"{round(t['train_stage']['median_s'] - t['tensorflow_import']['median_s'], 2)} s",
            f"{round(t['seed_script']['median_s'] - t['tensorflow_import']['median_s'], 2)} s",
            f"{t['speedup_beyond_import']}x",
        ),
        (
            f"2. throughput, {i['images']:,} images: `mnist-ann predict` (whole process, CSV) "
            "vs in-process onnxruntime",
            f"{i['predict_cli']['images_per_s']:,} img/s",
            f"{i['onnxruntime_in_process']['images_per_s']:,} img/s",
            f"**{round(100 * i['cli_share_of_raw_onnxruntime'])}%** (target >= 25%)",
        ),
        *parquet_rows(i),
        (
            "2b. the same vs Keras `model.predict(x)` in-process (default batch 32; batch 10k)",
            f"{i['predict_cli']['images_per_s']:,} img/s",
            f"{i['keras_predict']['images_per_s']:,} img/s; {i['keras_predict']['batch_10k_images_per_s']:,} img/s",
            f"**{i['cli_vs_keras_predict']}x** (target >= 5x); {i['cli_vs_keras_predict_batch_10k']}x",
        ),
        (
            "3. latency, one image: onnxruntime vs Keras `model(x)` / `model.predict(x)`",
            f"{i['latency_ms']['onnxruntime']} ms",
            f"{i['latency_ms']['keras_call']} ms / {i['latency_ms']['keras_predict']} ms",
            f"{round(i['latency_ms']['keras_call'] / i['latency_ms']['onnxruntime'])}x / "
            f"{round(i['latency_ms']['keras_predict'] / i['latency_ms']['onnxruntime'])}x",
        ),
        (
            f"4. {f['images']:,} PNGs: `mnist-ann predict` vs a single-process Pillow loop (both whole processes)",
            f"{f['predict_cli']['median_s']} s",
            f"{f['pillow_loop']['median_s']} s",
            f"**{f['speedup_median']}x** (target 1.3x)",
        ),
        *(
            [
                (
                    f"4c. {f100['images']:,} PNGs: the same",
                    f"{f100['predict_cli']['median_s']} s",
                    f"{f100['pillow_loop']['median_s']} s",
                    f"**{f100['speedup_median']}x** (target 1.6x)",
                )
            ]
            if f100
            else []
        ),
        (
            "4b. the same PNGs: `mnist-ann predict` (MNIST framing, background decided per image) vs "
            "`--frame none --background dark` (as before framing existed)",
            f"{f['predict_cli']['median_s']} s",
            f"{f['predict_unframed']['median_s']} s",
            f"**{f['framing_cost']}x** the time (target <= 1.1x)",
        ),
        (
            "5. peak RSS of `mnist-ann predict` on an .npy of 1M images vs 100k (read in chunks)",
            f"{mem['1M']['peak_rss_mb']} MB ({mem['1M']['seconds']} s)",
            f"{mem['100k']['peak_rss_mb']} MB ({mem['100k']['seconds']} s)",
            f"**{mem['growth_1M_over_100k']}x** (target < 400 MB, flat)",
        ),
        *(
            [
                (
                    "5b. the same 100k images in a Fortran-ordered .npy (read with file reads) vs C order",
                    f"{mem['100k_fortran']['peak_rss_mb']} MB ({mem['100k_fortran']['seconds']} s)",
                    f"{mem['100k']['peak_rss_mb']} MB ({mem['100k']['seconds']} s)",
                    f"**{round(mem['100k_fortran']['peak_rss_mb'] / mem['100k']['peak_rss_mb'], 2)}x** (flat)",
                )
            ]
            if "100k_fortran" in mem
            else []
        ),
        (
            "6. whole pipeline `dvc repro --force` (tracking, export) vs the seed script alone",
            f"{p['pipeline']['median_s']} s",
            f"{p['seed_script']['median_s']} s",
            f"**{p['pipeline_over_seed']}x** the time (target <= 1.25x)",
        ),
        (
            "7. cold start: `mnist-ann predict --help` / a 10-image predict vs `import tensorflow`",
            f"{c['predict_help']['median_s']} s / {c['predict_10_images']['median_s']} s",
            f"{c['import_tensorflow']['median_s']} s",
            f"{c['tensorflow_over_predict_10']}x faster",
        ),
    ]
    for name, what in (
        ("crops", "1,000 font digits cropped tight, white on black"),
        ("scans", "1,000 font digits as dark ink off-centre on noisy paper"),
        ("mnist_pngs", "2,000 MNIST test digits as PNGs"),
    ):
        a = o[name]
        rows.append(
            (
                f"8. accuracy, {what}: `mnist-ann predict` (default) vs `--frame none` with "
                "`--background dark` / `light` (`--invert`)",
                f"{a['default']}",
                f"{a['unframed_dark']} / {a['unframed_light']}",
                f"**{round(100 * (a['default'] - max(a['unframed_dark'], a['unframed_light'])), 1):+} points**",
            )
        )
    rows += cluster_rows(results["cluster"]) if "cluster" in results else []
    rows += sweep_rows(results["sweep"]) if "sweep" in results else []
    rows += monitoring_rows(results["monitoring"]) if "monitoring" in results else []
    rows += int8_rows(results["int8"]) if "int8" in results else []
    rows += photo_rows(results["photos"]) if "photos" in results else []
    header = (
        f"Measured by `make bench` on {m['cpu']}, {m['cores']} cores, {results['date']}; medians of {r} runs "
        "after a warm-up; " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + "."
    )
    later = sorted(
        {
            v["date"]
            for v in results.values()
            if isinstance(v, dict) and v.get("date", results["date"]) > results["date"]
        }
    )
    if later:
        header += (
            f" Some rows were measured again later (`--only`), on {', '.join(later)}: each section's date is in "
            "benchmarks/results.json."
        )
    table = ["| comparison | ours | baseline | ratio |", "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c_} | {d} |" for a, b, c_, d in rows]
    return header + "\n\n" + "\n".join(table) + "\n"


def parquet_rows(i: dict) -> list[tuple[str, str, str, str]]:
    """2c. the same 100k images to Parquet, whole process, and what is left once a whole process's
    fixed cost (starting Python, importing numpy, onnxruntime and pyarrow, loading the model: a
    10-image run) is taken away."""
    if "predict_parquet" not in i:
        return []
    return [
        (
            f"2c. the same to Parquet (`--output p.parquet`); and less the fixed cost of a whole process "
            f"(a 10-image run, {i['fixed_10_images_parquet']['median_s']} s)",
            f"{i['predict_parquet']['images_per_s']:,} img/s",
            f"{i['onnxruntime_in_process']['images_per_s']:,} img/s",
            f"**{round(100 * i['parquet_share_of_raw_onnxruntime'])}%** (target >= 75%); "
            f"{round(100 * i['parquet_share_past_fixed_cost'])}% past the fixed cost",
        )
    ]


def cluster_rows(k: dict) -> list[tuple[str, str, str, str]]:
    """9. `predict --ray` against the same command on one machine (both whole processes)."""
    start, pngs, npy, two = k["start_10_images"], k["pngs_100k"], k["npy_1m"], k["two_nodes"]
    per_node = ", ".join(f"{n:,}" for n in two["per_node_images_per_s"])
    return [
        (
            "9a. fixed cost, 10 images: `predict --ray` starting a local cluster vs one machine; "
            "joining a running cluster (two nodes)",
            f"{start['ray_local']} s; joining {two['join_10_images_s']} s",
            f"{start['one_machine']} s",
            f"+{round(start['ray_local'] - start['one_machine'], 1)} s; "
            f"+{round(two['join_10_images_s'] - start['one_machine'], 1)} s",
        ),
        (
            "9b. 100,000 PNGs: `predict --ray` (local cluster, 2 CPUs) vs one machine",
            f"{pngs['ray_local']} s",
            f"{pngs['one_machine']} s",
            f"**{round(pngs['one_machine'] / pngs['ray_local'], 2)}x**",
        ),
        (
            "9c. 1M-image .npy: `predict --ray` (local cluster, 2 CPUs) vs one machine",
            f"{npy['ray_local']} s",
            f"{npy['one_machine']} s",
            f"**{round(npy['one_machine'] / npy['ray_local'], 2)}x**",
        ),
        (
            "9d. 1M-image .npy on two one-CPU nodes of this machine (joined): images/s per node, less the join cost",
            f"{two['npy_1m_s']} s; {per_node} img/s",
            f"{npy['one_machine']} s (one machine)",
            f"nodes scored {' / '.join(f'{n:,}' for n in two['images_per_node'])} images"
            + (f"; driver CPU {two['driver_cpu_s']} s" if "driver_cpu_s" in two else ""),
        ),
        *_folder_row(two, npy),
        *_objects_row(two, npy),
    ]


def _folder_row(two: dict, npy: dict) -> list[tuple[str, str, str, str]]:
    """9e. the same job with the workers writing Parquet shards into a folder (issue 27): per-node
    throughput against one machine's per core, and the driver's own CPU time."""
    if "npy_1m_parquet_folder_s" not in two:
        return []
    per_core = 1_000_000 / npy["one_machine"] / 2  # one machine's images/s per core (2 cores)
    per_node = two["parquet_folder_per_node_images_per_s"]
    share = round(100 * min(per_node, default=0) / per_core)
    return [
        (
            "9e. the same, `--output DIR/ --format parquet` (the workers write their shards; the driver gets "
            "summaries): images/s per node, less the join cost; the driver's CPU time",
            f"{two['npy_1m_parquet_folder_s']} s; {', '.join(f'{n:,}' for n in per_node)} img/s; "
            f"driver CPU {two['parquet_folder_driver_cpu_s']} s",
            f"{round(per_core):,} img/s per core (one machine)",
            f"**{share}%** of one machine per core, the slower node (target >= 80%); driver CPU target <= 1 s",
        )
    ]


def _objects_row(two: dict, npy: dict) -> list[tuple[str, str, str, str]]:
    """9f. the 9e job from an .npy object to an object prefix, through a local S3-compatible server
    (moto's) that shares the machine's two cores with both nodes."""
    if "objects" not in two:
        return []
    o, per_core = two["objects"], 1_000_000 / npy["one_machine"] / 2
    per_node = o["per_node_images_per_s"]
    return [
        (
            "9f. the same 1M rows as 32 .npy objects, scored into an object prefix (`s3://`: ranged reads, shards "
            "uploaded by the workers) through moto's S3 server on 127.0.0.1, on the same two cores: images/s per "
            "node, less the join cost; the driver's CPU time",
            f"{o['s']} s; {', '.join(f'{n:,}' for n in per_node)} img/s; driver CPU {o['driver_cpu_s']} s",
            f"{round(per_core):,} img/s per core (one machine, a local file)",
            f"**{round(100 * min(per_node, default=0) / per_core)}%** of one machine per core, with the server on the "
            f"same cores; the server alone: PUT {o['put_mb_per_s']} MB/s, GET {o['get_mb_per_s']} MB/s (one stream)",
        )
    ]


def update_readme(table: str) -> None:
    readme = REPO / "docs" / "benchmarks.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        readme.write_text(f"{before}{start}\n{table}{end}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender (default 3)")
    parser.add_argument(
        "--only",
        choices=(
            "training",
            "augment",
            "inference",
            "cluster",
            "sweep",
            "images",
            "pipeline",
            "monitoring",
            "int8",
            "photos",
        ),
        help="run only these rows (training: rows 1-1b; augment: row 1c; cluster: `predict --ray`; sweep: the queued "
        "experiments; images: the PNG folders, rows 4-4c; inference: rows 2-3, 5 and 7, what the scoring code "
        "moves; pipeline: row 6, the whole dvc repro; monitoring: row 11; int8: row 12; photos: row 13), keeping the "
        "other rows of benchmarks/results.json",
    )
    parser.add_argument(
        "--sweep-before",
        type=Path,
        metavar="TREE",
        help="also run the sweep on TREE (a checkout of an earlier commit) and record it as the sweep's before",
    )
    args = parser.parse_args()
    previous = json.loads((REPO / "benchmarks" / "results.json").read_text())
    if not (REPO / "models" / "model.onnx").exists():  # the benchmarks score the pipeline's own model
        subprocess.run(
            [str(BIN / "dvc"), "repro"],
            cwd=REPO,
            check=True,
            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        )
    with tempfile.TemporaryDirectory(prefix="mnist-ann-bench-") as scratch:
        workdir = Path(scratch)
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        }
        env.pop("DVC_ROOT", None)
        if args.only:
            results = {**previous, **only_rows(args.only, workdir, env, args.repeats)}
        else:
            results = all_benchmarks(workdir, env, args.repeats)
        # The sweep before issue 15 ran on that commit's code: kept from the run that measured it.
        before = previous.get("sweep", {}).get("before")
        if args.sweep_before:
            before = {**bench_sweep(workdir, env, args.sweep_before, "before"), "date": _today()}
            before["commit"] = _commit_of(args.sweep_before)
        if before and "sweep" in results:
            results["sweep"]["before"] = before
    (REPO / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (REPO / "benchmarks" / "results.md").write_text(table)
    update_readme(table)
    print(table)


def only_rows(only: str, workdir: Path, env: dict[str, str], repeats: int) -> dict:
    """The sections of results.json that `--only <only>` measures again, each with today's date."""
    if only == "images":
        return bench_image_folders(workdir, env, repeats)  # dated section by section
    runners = {
        "training": lambda: {"training": bench_training(workdir, env, repeats)},
        "augment": lambda: {"augmented_epoch": bench_augmented_epoch(workdir, env, repeats)},
        "cluster": lambda: {"cluster": bench_cluster(workdir, env, repeats)},
        "sweep": lambda: {"sweep": bench_sweep(workdir, env)},
        "monitoring": lambda: {"monitoring": bench_monitoring(workdir, env, repeats)},
        "int8": lambda: {"int8": bench_int8(workdir, env, repeats)},
        "photos": lambda: {"photos": bench_photos(workdir, env, repeats)},
        "pipeline": lambda: {"pipeline": bench_pipeline(workdir, env, max(1, repeats - 1))},
        "inference": lambda: {
            "inference": bench_inference(workdir, env, repeats),
            "memory": bench_memory(workdir, env),
            "cold_start": bench_cold_start(workdir, env, repeats),
        },
    }
    return {name: {**rows, "date": _today()} for name, rows in runners[only]().items()}


def _today() -> str:
    return time.strftime("%Y-%m-%d")


def _commit_of(tree: Path) -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True)
    return found.stdout.strip() or str(tree)


def all_benchmarks(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": versions(),
        "repeats": repeats,
        "training": bench_training(workdir, env, repeats),
        "augmented_epoch": bench_augmented_epoch(workdir, env, repeats),
        "inference": bench_inference(workdir, env, repeats),
        **bench_image_folders(workdir, env, repeats),
        "own_images": bench_own_images(workdir, env),
        "memory": bench_memory(workdir, env),
        "pipeline": bench_pipeline(workdir, env, max(1, repeats - 1)),
        "cold_start": bench_cold_start(workdir, env, repeats),
        "cluster": bench_cluster(workdir, env, repeats),
        "sweep": bench_sweep(workdir, env),
        "monitoring": bench_monitoring(workdir, env, repeats),
        "int8": bench_int8(workdir, env, repeats),
        "photos": bench_photos(workdir, env, repeats),
    }


if __name__ == "__main__":
    main()
