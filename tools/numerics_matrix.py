"""Train the default model under every numerics setting this machine can select, and print one row
per setting: validation accuracy, the weights' md5 and the fit's seconds (docs/pipeline.md, "Same
bits on every CPU", holds the table it printed).

    python tools/numerics_matrix.py [--epochs 5] [--only pinned]    # after `dvc repro preprocess`

Each row is a fresh process, since TensorFlow reads its settings once, when it loads. Rows:
- `native`: TensorFlow's defaults and the given variables, as before issue 23;
- `pinned`: mnist_ann.training.numerics as the stages run, with a caller's variables that it must override;
- `pinned` with `cache=L1,L2,L3`: Eigen's cache sizes, which it reads from the CPU, set in the
  process to those of other CPUs. Eigen keeps them in a static of TensorFlow's shared libraries;
  its address comes from the libraries' symbol tables (binutils' `nm`), and it is written before
  the first matrix product reads it. For measuring only: never in the pipeline."""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ISAS = ["SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16"]
# L1 data, L2 and L3 bytes of CPUs other than this one (per core / per socket as Eigen reads them)
CACHES = {
    "Haswell": (32 << 10, 256 << 10, 6 << 20),
    "Skylake client": (32 << 10, 256 << 10, 8 << 20),
    "Skylake-SP": (32 << 10, 1 << 20, 38 << 20),
    "Ice Lake-SP": (48 << 10, 1280 << 10, 48 << 20),
    "Sapphire Rapids": (48 << 10, 2 << 20, 105 << 20),
    "Zen 2": (32 << 10, 512 << 10, 16 << 20),
    "Zen 5": (48 << 10, 1 << 20, 32 << 20),
    "64 KiB L1 (none yet)": (64 << 10, 1 << 20, 32 << 20),
    "Atom Silvermont (24 KiB L1, no L3)": (24 << 10, 1 << 20, 1 << 20),
    "Bulldozer (16 KiB L1)": (16 << 10, 2 << 20, 8 << 20),
}
CACHE_SIZES = "_ZZN5Eigen8internal20manage_caching_sizesENS_6ActionEPlS2_S2_E12m_cacheSizes"
GUARD = "_ZGVZN5Eigen8internal20manage_caching_sizesENS_6ActionEPlS2_S2_E12m_cacheSizes"


def rows(only: str | None) -> list[tuple[str, dict[str, str]]]:
    native: list[tuple[str, dict[str, str]]] = [("native, defaults", {})]
    native += [(f"native, ONEDNN_MAX_CPU_ISA={isa}", {"ONEDNN_MAX_CPU_ISA": isa}) for isa in ISAS]
    native += [("native, TF_ENABLE_ONEDNN_OPTS=0", {"TF_ENABLE_ONEDNN_OPTS": "0"})]
    native += [
        (f"native, oneDNN off, ISA={isa}", {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": isa})
        for isa in ("SSE41", "AVX2")
    ]
    off, one = {"TF_ENABLE_ONEDNN_OPTS": "0"}, {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    native += [
        ("native, oneDNN off, 1 thread", {**off, **one}),
        ("native, oneDNN and its sgemm off, 1 thread", {**off, **one, "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0"}),
        (
            "native, oneDNN and its sgemm off, default threads (2 here)",
            {**off, "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0"},
        ),
    ]
    native = [(name, {**env, "MNIST_ANN_NUMERICS": "native"}) for name, env in native]
    pinned: list[tuple[str, dict[str, str]]] = [("pinned", {})]
    pinned += [(f"pinned, caller sets ONEDNN_MAX_CPU_ISA={isa}", {"ONEDNN_MAX_CPU_ISA": isa}) for isa in ISAS]
    pinned += [
        ("pinned, caller sets TF_ENABLE_ONEDNN_OPTS=1", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        ("pinned, caller sets 1 thread", {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}),
    ]
    pinned += [(f"pinned, cache sizes of {cpu}", {"MATRIX_CACHE": ",".join(map(str, c))}) for cpu, c in CACHES.items()]
    return {"native": native, "pinned": pinned}.get(only or "", native + pinned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--only", choices=["native", "pinned"])
    parser.add_argument("--rows", help="only the rows whose setting contains this text")
    parser.add_argument("--train-one", action="store_true", help=argparse.SUPPRESS)  # a row's own process
    args = parser.parse_args()
    if args.train_one:
        return train_one(args.epochs)
    print("| setting | val_accuracy | weights md5 | fit s |\n| --- | --- | --- | --- |", flush=True)
    for name, settings in rows(args.only):
        if args.rows and args.rows not in name:
            continue
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ONEDNN_", "MNIST_ANN_NUMERICS"))}
        command = [sys.executable, __file__, "--train-one", "--epochs", str(args.epochs)]
        result = subprocess.run(command, env={**env, **settings}, capture_output=True, text=True)
        print(f"| {name} | {result.stdout.strip() or 'failed: ' + result.stderr.strip()[-200:]} |", flush=True)


def train_one(epochs: int) -> None:
    import hashlib
    import time

    from mnist_ann.training.harness import start_keras

    start_keras()
    if "MATRIX_CACHE" in os.environ:
        set_eigen_cache_sizes(*map(int, os.environ["MATRIX_CACHE"].split(",")))
    from mnist_ann.training import model as ann
    from mnist_ann.training.data import load_split

    data = REPO / "data" / "processed"
    train, test = load_split(data, "train"), load_split(data, "test")
    ann.make_deterministic(42)
    model = ann.build_model(
        hidden_units=[256, 128, 64, 32],
        activation="relu",
        optimizer="adam",
        learning_rate=0.01,
        loss="categorical_crossentropy",
    )
    started = time.perf_counter()
    history = ann.fit(model, train, test, batch_size=128, epochs=epochs, validation_freq=1)
    seconds = time.perf_counter() - started
    digest = hashlib.md5(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:10]
    print(f"{history['val_accuracy'][-1]:.4f} | {digest} | {seconds:.1f}")


def set_eigen_cache_sizes(l1: int, l2: int, l3: int) -> None:
    """Write Eigen's cache sizes into each loaded TensorFlow library that has its own copy, and mark
    them initialised so that Eigen never asks the CPU."""
    import tensorflow

    libraries = sorted(Path(tensorflow.__file__).parent.glob("libtensorflow*.so*"))
    written = 0
    for library in libraries:
        symbols = _symbols(library, (CACHE_SIZES, GUARD))
        base = _load_address(library)
        if len(symbols) == 2 and base is not None:
            sizes = (ctypes.c_int64 * 3).from_address(base + symbols[CACHE_SIZES])
            sizes[0], sizes[1], sizes[2] = l1, l2, l3
            ctypes.c_uint8.from_address(base + symbols[GUARD]).value = 1
            written += 1
    if not written:
        sys.exit("error: Eigen's cache sizes were not found in TensorFlow's libraries (needs binutils' nm)")


def _symbols(library: Path, names: tuple[str, ...]) -> dict[str, int]:
    listed = subprocess.run(["nm", str(library)], capture_output=True, text=True).stdout
    found = {}
    for line in listed.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16)
    return found


def _load_address(library: Path) -> int | None:
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and Path(parts[5]).name == library.name and int(parts[2], 16) == 0:
            return int(parts[0].split("-")[0], 16)
    return None


if __name__ == "__main__":
    main()
