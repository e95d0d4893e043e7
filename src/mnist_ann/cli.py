"""The `mnist-ann` console script.

Subcommands:
  check-params [FILE]   load and check a parameter file; print it resolved, as JSON, on stdout
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .entry import run
from .params import load_params


def _check_params(args: argparse.Namespace) -> None:
    params = load_params(args.file)
    json.dump(dataclasses.asdict(params), sys.stdout, indent=2)
    print()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-ann",
        description="The MNIST ANN pipeline's command-line tools. Exit codes: 0 success, 1 error "
        "(one line on stderr), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check-params",
        help="check a parameter file and print it resolved",
        description="Load FILE with the same strict rules as every stage (unknown, missing, "
        "mistyped or out-of-range keys fail, naming the key) and print it resolved, as JSON.",
    )
    check.add_argument("file", nargs="?", type=Path, default=Path("params.yaml"), help="default: params.yaml")
    check.set_defaults(handler=_check_params)
    return parser


def _main(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    args.handler(args)


def main(argv: Sequence[str] | None = None) -> None:
    run(_main, argv)


if __name__ == "__main__":
    main()
