"""download stage: MNIST from the first working source listed in params.yaml, verified against the
canonical hashes, written as a Keras-layout .npz (x_train, y_train, x_test, y_test)."""

from __future__ import annotations

try:
    from mnist_ann.entry import exit_on_signals_while_starting
except ModuleNotFoundError:  # DVC runs the `python` first on PATH: not the project's environment
    from dvc_python import rerun_with_dvcs_python

    rerun_with_dvcs_python()

exit_on_signals_while_starting()  # first: Ctrl-C during the imports below exits 130, no traceback

import logging

from mnist_ann.data import save_npz
from mnist_ann.download import default_cache_dir, download_mnist
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
