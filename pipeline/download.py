"""download stage: MNIST from the first working source listed in params.yaml, verified against the
canonical hashes, written as a Keras-layout .npz (x_train, y_train, x_test, y_test)."""

from __future__ import annotations

from stage_start import start_stage

start_stage()  # first: Ctrl-C during the imports below exits 130, no traceback

import logging

from mnist_ann.data import save_npz
from mnist_ann.download.sources import default_cache_dir, download_mnist
from mnist_ann.entry import run_main, stage_arguments
from mnist_ann.params import load_params

log = logging.getLogger("download")


def main(argv: list[str] | None = None) -> None:
    args = stage_arguments(__doc__, argv, (), {"output": "the .npz to write"})
    params = load_params(args.params).download
    arrays = download_mnist(params, cache_dir=default_cache_dir())
    save_npz(args.output, arrays)
    log.info("wrote %s (%s)", args.output, ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


if __name__ == "__main__":
    run_main(main)
