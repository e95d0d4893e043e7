"""download stage: MNIST from the first working source listed in params.yaml, verified against the
canonical hashes, written as a Keras-layout .npz (x_train, y_train, x_test, y_test)."""

from __future__ import annotations

from stage_start import start_stage

start_stage()  # first: Ctrl-C during the imports below exits 130, no traceback

import logging
from collections.abc import Sequence

from mnist_ann.core.npy import save_npz
from mnist_ann.core.process import run_main
from mnist_ann.training.download.sources import default_cache_dir, download_mnist
from mnist_ann.training.harness import stage

log = logging.getLogger("download")


def main(argv: Sequence[str] | None = None) -> None:
    with stage("download", __doc__, argv, (), own={"output": "the .npz to write"}) as run:
        arrays = download_mnist(run.params.download, cache_dir=default_cache_dir())
        save_npz(run.args.output, arrays)
    log.info("wrote %s (%s)", run.args.output, ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


if __name__ == "__main__":
    run_main(main)
