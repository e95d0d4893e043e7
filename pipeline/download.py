"""download stage: MNIST from the first working source listed in params.yaml, verified against the
canonical hashes, written as a Keras-layout .npz (x_train, y_train, x_test, y_test)."""

from __future__ import annotations

import logging
from pathlib import Path

from mnist_ann.data import save_npz
from mnist_ann.download import default_cache_dir, download_mnist
from mnist_ann.entry import run, stage_parser
from mnist_ann.params import load_params
from mnist_ann.transfer import Patience

log = logging.getLogger("download")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--output", type=Path, required=True, help="the .npz to write")
    args = parser.parse_args(argv)

    params = load_params(args.params).download
    patience = Patience(params.connect_timeout, params.read_timeout, params.retries)
    arrays = download_mnist(params.sources, patience, cache_dir=default_cache_dir())
    save_npz(args.output, arrays)
    log.info("wrote %s (%s)", args.output, ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


if __name__ == "__main__":
    run(main)
