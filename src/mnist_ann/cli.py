"""The `mnist-ann` console script.

  mnist-ann predict --model models/model.onnx INPUT... --output predictions.csv
  mnist-ann check-params [FILE]
  mnist-ann card [WORKSPACE] --output card.html

Imports stay light: `predict` needs numpy, onnxruntime and Pillow, never TensorFlow.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .entry import EXIT_CODES, EXIT_ERROR, run_main
from .predict.command import add_predict_command


def _check_params(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    from .params import load_params

    json.dump(dataclasses.asdict(load_params(args.file)), sys.stdout, indent=2)
    print()


def _card(args: argparse.Namespace) -> None:
    from .card import write_workspace_card

    if re.match(r"[a-z]+:/", str(args.model)):  # models:/..., runs:/...: registry cards are not built yet
        from .errors import ModelError

        raise ModelError(f"card: {args.model}: only a pipeline workspace folder for now, not a registry URI")
    write_workspace_card(args.model, args.output)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means "some inputs failed", so usage errors exit 1."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mnist-ann",
        description="Tools of the MNIST ANN pipeline. Exit codes: "
        + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
        + ".",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_predict_command(commands)

    check = commands.add_parser(
        "check-params",
        help="check a parameter file and print it resolved",
        description="Load FILE with the same strict rules as every stage (unknown, missing, "
        "mistyped or out-of-range keys fail, naming the key) and print it resolved, as JSON.",
    )
    check.add_argument("file", nargs="?", type=Path, default=Path("params.yaml"), help="default: params.yaml")
    check.set_defaults(handler=_check_params)

    card = commands.add_parser(
        "card",
        help="write the model card of the workspace's pipeline outputs",
        description="Write the model card (what the model is, its data, figures, weak spots and lineage, "
        "read from dvc.lock and metrics/*.json) as Markdown or one self-contained HTML page, by the suffix.",
    )
    card.add_argument("model", nargs="?", default=".", help="the pipeline workspace (default: .)")
    card.add_argument("--output", "-o", type=Path, required=True, help="FILE.md or FILE.html")
    card.set_defaults(handler=_card)
    return parser


def _main(argv: Sequence[str] | None) -> int | None:
    args = build_parser().parse_args(argv)
    return args.handler(args)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(_main, argv)


if __name__ == "__main__":
    main()
