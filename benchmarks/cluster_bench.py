"""`make bench` rows for `mnist-ann predict --ray`: the same command on one machine vs on a Ray cluster
(a local one it starts; two one-CPU nodes on this machine that it joins), whole processes, side by
side. Two nodes on one 2-core machine share the same cores, so they are no speed-up: the rows give
each node's throughput and the fixed cost, from which N machines can be estimated."""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

from object_store import s3_server, upload_shards
from workload import BIN, REPO, predict_command, write_pngs, write_tiled_npy

NODE_STORE_BYTES = 256 * 2**20


def _run(command, workdir, env) -> tuple[float, str]:
    """(seconds, stderr's per-node line) of one whole-process run."""
    seconds, per_node, _ = _run_with_cpu(command, workdir, env)
    return seconds, per_node


def _run_with_cpu(command, workdir, env) -> tuple[float, str, float]:
    """(seconds, stderr's per-node line, CPU seconds of the process itself) of one run. Joined to a
    running cluster, the process is the driver alone: Ray's daemons and workers are the cluster's."""
    import subprocess

    started = time.perf_counter()
    with subprocess.Popen(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True) as process:
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode not in (0, 2):
        raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{stderr[-2000:]}")
    per_node = re.search(r"images per Ray node: (.*)", stderr)
    return seconds, per_node.group(1) if per_node else "", usage.ru_utime + usage.ru_stime


def _side_by_side(commands: dict[str, list[str]], workdir: Path, env, repeats: int) -> dict:
    """Median seconds of each command, run alternately after one warm-up of each."""
    for command in commands.values():
        _run(command, workdir, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(_run(command, workdir, env)[0])
    return {name: round(statistics.median(values), 2) for name, values in times.items()}


def bench_cluster(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    env = {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    pngs, array, small = workdir / "ray-pngs", workdir / "ray-x1m.npy", workdir / "ray-x10.npy"
    write_pngs(pngs, 100_000)
    write_tiled_npy(array, 1_000_000)
    write_tiled_npy(small, 10)

    def pair(inputs: Path, name: str) -> dict[str, list[str]]:
        return {
            "one_machine": predict_command(inputs, workdir / f"{name}.csv"),
            "ray_local": predict_command(inputs, workdir / f"{name}-ray.csv", "--ray"),
        }

    results = {
        "start_10_images": _side_by_side(pair(small, "ten"), workdir, env, repeats),
        "pngs_100k": _side_by_side(pair(pngs, "pngs"), workdir, env, max(1, repeats - 1)),
        "npy_1m": _side_by_side(pair(array, "npy"), workdir, env, max(1, repeats - 1)),
    }
    results["two_nodes"] = _two_nodes(workdir, env, small, array)
    array.unlink()
    return results


def _two_nodes(workdir: Path, env: dict[str, str], small: Path, array: Path) -> dict:
    """Join a cluster of two one-CPU nodes on this machine: the cost of joining (10 images), then
    1M array rows, with the images each node scored."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": NODE_STORE_BYTES}
    with s3_server(workdir / "s3-requests.log") as settings:  # before the nodes start: they inherit its settings
        cluster = Cluster(initialize_head=True, connect=False, head_node_args={**node, "include_dashboard": False})
        return _on_two_nodes(cluster, node, {**env, **settings}, small, array, workdir)


def _on_two_nodes(cluster, node: dict, env: dict[str, str], small: Path, array: Path, workdir: Path) -> dict:
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        joined = {**env, "RAY_ADDRESS": cluster.address}
        _run(predict_command(small, workdir / "join.csv", "--ray"), workdir, joined)  # warm-up
        join_s, _ = _run(predict_command(small, workdir / "join.csv", "--ray"), workdir, joined)
        total_s, per_node, driver_cpu = _run_with_cpu(
            predict_command(array, workdir / "two.csv", "--ray"), workdir, joined
        )
        # the workers write Parquet shards into a folder: only each task's summary reaches the driver
        folder = predict_command(array, Path(f"{workdir}/two-parquet/"), "--ray", "--format", "parquet")
        folder[folder.index("--output") + 1] += os.sep
        folder_s, folder_nodes, folder_cpu = _run_with_cpu(folder, workdir, joined)
        objects = _objects_job(array, workdir, joined, join_s)
    finally:
        cluster.shutdown()
    images = [int(part.split()[1]) for part in per_node.split(", ")] if per_node else []
    folder_images = [int(part.split()[1]) for part in folder_nodes.split(", ")] if folder_nodes else []
    work_s, folder_work_s = max(total_s - join_s, 1e-9), max(folder_s - join_s, 1e-9)
    return {
        "join_10_images_s": round(join_s, 2),
        "npy_1m_s": round(total_s, 2),
        "images_per_node": images,
        "per_node_images_per_s": [round(n / work_s) for n in images],
        "driver_cpu_s": round(driver_cpu, 2),
        "npy_1m_parquet_folder_s": round(folder_s, 2),
        "parquet_folder_per_node_images_per_s": [round(n / folder_work_s) for n in folder_images],
        "parquet_folder_driver_cpu_s": round(folder_cpu, 2),
        "objects": objects,
    }


def _objects_job(array: Path, workdir: Path, env: dict[str, str], join_s: float) -> dict:
    """The 1M rows as 32 .npy objects under a prefix, scored into an object prefix (Parquet): the
    server's own MB/s, the job's seconds, images per node per second (less the join cost), the
    driver's CPU."""
    store = upload_shards(env, array, "s3://digits-in/x1m/", 32)
    model = str(REPO / "models" / "model.onnx")
    command = [str(BIN / "mnist-ann"), "predict", "--model", model, "s3://digits-in/x1m/", "--ray"]
    command += ["--output", "s3://preds-out/x1m/", "--format", "parquet"]
    seconds, per_node, driver_cpu = _run_with_cpu(command, workdir, env)
    images = [int(part.split()[1]) for part in per_node.split(", ")] if per_node else []
    per_s = [round(n / max(seconds - join_s, 1e-9)) for n in images]
    return {**store, "s": round(seconds, 2), "per_node_images_per_s": per_s, "driver_cpu_s": round(driver_cpu, 2)}
