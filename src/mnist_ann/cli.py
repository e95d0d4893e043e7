"""The `mnist-ann` console script.

  mnist-ann predict --model models/model.onnx INPUT... --output predictions.csv
  mnist-ann check-params [FILE]
  mnist-ann card [MODEL] --output card.html   (models:/mnist-ann/3, models:/mnist-ann@champion, a workspace)
  mnist-ann promote models:/mnist-ann/3 [--force]
  mnist-ann compare models:/mnist-ann@champion models:/mnist-ann/3 --output report.md   (or .html)

Imports stay light: `predict` needs numpy, onnxruntime and Pillow, never TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .core.process import EXIT_CODES, ArgumentParser, run_main, set_numpy_defaults
from .predict.command import add_predict_command


def _check_params(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    from .training.params import load_params

    json.dump(dataclasses.asdict(load_params(args.file)), sys.stdout, indent=2)
    print()


def _card(args: argparse.Namespace) -> None:
    from .training.card import card_suffix, version_card_files, write_card, write_workspace_card

    if not re.match(r"[a-z]+:/", str(args.model)):  # a folder: mlflow is never imported
        write_workspace_card(args.model, args.output)
        return
    from .tracking import repo_root, version_record

    card_suffix(args.output)  # a wrong suffix fails before the store is opened
    write_card(version_card_files(version_record(str(args.model), repo_root())), args.output)


def _rules(args: argparse.Namespace):
    """The promotion gate's thresholds, from the --params file's `promote` section."""
    from dataclasses import asdict

    from .training.params import load_params
    from .training.promotion import Rules

    return Rules(**asdict(load_params(args.params).promote))


def _promote(args: argparse.Namespace) -> int:
    from .core.errors import MnistAnnError
    from .tracking import repo_root
    from .training.promotion import promote_version

    decision = promote_version(str(args.model), repo_root(), args.data, _rules(args), force=args.force)
    if not decision.promoted:
        raise MnistAnnError(f"{args.model}: {decision.tag}")
    print(f"{args.model}: {decision.tag}")
    return 0


def _compare(args: argparse.Namespace) -> None:
    from .tracking import repo_root
    from .training.report import write_report

    write_report(args.a, args.b, args.output, root=repo_root(), rules=_rules(args), data=args.data)
    print(f"{args.output}: {args.b} compared with {args.a}")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
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
        help="write the model card of a registered version or of the workspace's pipeline outputs",
        description="Write the model card (what the model is, its data, figures, weak spots, lineage and, for a "
        "registered version, how it compares with the version it would replace) as Markdown or one "
        "self-contained HTML page, by the suffix. A registered version's card is the one logged with its run.",
    )
    card.add_argument(
        "model",
        nargs="?",
        default=".",
        help="models:/<name>/<version>, models:/<name>@<alias>, or a pipeline workspace folder (default: .)",
    )
    card.add_argument("--output", "-o", type=Path, required=True, help="FILE.md or FILE.html")
    card.set_defaults(handler=_card)

    promote = commands.add_parser(
        "promote",
        help="apply the promotion gate to a registered version: it becomes the champion if it is as good",
        description="Compare a registered version with the current champion on the workspace's test split and "
        "robustness variants (params.yaml's `promote` thresholds, as the export stage does) and make it the "
        "champion if it passes. The decision is recorded on the version (tag `promotion`). Exit 1 when refused.",
    )
    promote.add_argument("model", help="models:/<name>/<version>")
    promote.add_argument("--force", action="store_true", help="promote whatever the gate says (recorded as forced)")
    _gate_options(promote)
    promote.set_defaults(handler=_promote)

    compare = commands.add_parser(
        "compare",
        help="compare two models in a report (Markdown or self-contained HTML) for a pull request or a review",
        description="Measure A and B on the workspace's test split and robustness variants, image by image, and "
        "write every figure of both with the change (B - A) and its paired confidence interval, per digit and "
        "per variant, the ONNX parity and the scoring time, the promotion gate's decision (B as the candidate, A "
        "as the champion), the params that differ, the confusion matrices side by side and every figure the runs "
        "recorded. Markdown or one self-contained HTML page, by the suffix.",
    )
    for side in ("a", "b"):
        compare.add_argument(
            side,
            metavar=side.upper(),
            help="models:/<name>/<version>, models:/<name>@<alias>, or a pipeline workspace folder (its model)",
        )
    compare.add_argument("--output", "-o", type=Path, required=True, help="FILE.md or FILE.html")
    _gate_options(compare)
    compare.set_defaults(handler=_compare)
    return parser


def _gate_options(parser: argparse.ArgumentParser) -> None:
    """--params and --data: where the promotion gate's thresholds and test images come from."""
    parser.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the gate's thresholds (`promote`); default: params.yaml",
    )
    parser.add_argument(
        "--data", type=Path, default=Path("data/processed"), help="the test split; default: data/processed"
    )


def _main(argv: Sequence[str] | None) -> int | None:
    args = build_parser().parse_args(argv)
    return args.handler(args)


def main(argv: Sequence[str] | None = None) -> None:
    # numpy's BLAS (OpenBLAS) runs each matrix product on a thread per core, spinning between
    # products: beside predict's decoding workers, which hold the cores, the monitoring's projection
    # of each scored batch took 13 times as long (0.36 s against 0.028 s for 20,000 PNGs on 2 cores).
    # One thread, set before any command imports numpy (importing this module does not); a user's
    # own setting stands.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    set_numpy_defaults()
    run_main(_main, argv)


if __name__ == "__main__":
    main()
