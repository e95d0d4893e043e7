"""`make exps`: the experiments side by side on a 120-column terminal. `dvc exp show` gives every
param, every dependency's hash and every figure one column each (narrowed to what changed, still
over 260 characters wide once the `robust` experiment, which changes eleven params, exists); this
turns it round: one column per experiment, one row per param that differs between the experiments
shown, then the figures that compare them (FIGURES). More experiments than fit in WIDTH go on in
another block below.

    python tools/exps_table.py              the table, from `dvc exp show --json`
    python tools/exps_table.py --width 100

What the other params and figures are: `dvc exp show`, `dvc params diff`, `dvc metrics diff`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mnist_ann.training.card.facts import dotted_names

WIDTH = 120  # characters: the terminal the docs promise the table fits
GAP = 2  # spaces between columns
# (file, key, row name): test accuracy and loss, parity of the ONNX model in millionths, and the mean
# accuracy on the test set's variants (each variant: metrics/robustness.json, `dvc metrics diff`)
FIGURES = (
    ("metrics/evaluate.json", "test_accuracy", "test_accuracy"),
    ("metrics/evaluate.json", "test_loss", "test_loss"),
    ("metrics/export.json", "max_abs_diff_ppm", "parity (millionths)"),
    ("metrics/robustness.json", "mean", "robustness mean"),
)


def experiments(shown: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """`dvc exp show --json`'s revisions, in its order: (name, short rev, data), the workspace
    first, each baseline followed by its experiments. A queued experiment has no data yet: {}."""
    found = []
    for baseline in shown:
        rev = baseline.get("rev", "")
        short = rev if rev == "workspace" else rev[:7]
        name = baseline.get("name") or short
        found.append((name, "" if name == short else short, baseline.get("data") or {}))
        for experiment in baseline.get("experiments") or []:
            revs = experiment.get("revs") or [{}]
            data, rev = revs[0].get("data") or {}, revs[0].get("rev", "")
            found.append((experiment.get("name") or rev[:7], rev[:7], data))
    return found


def _params(data: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for source in (data.get("params") or {}).values():
        params.update(dotted_names(source.get("data") or {}))
    return params


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, list):
        return "[" + ",".join(_shown(item) for item in value) + "]"
    return str(value)


def rows(found: list[tuple[str, str, dict[str, Any]]]) -> list[list[str]]:
    """The table's rows, a header of names and revs first: the params whose values differ between
    the experiments (all of them when only one is shown, none when they agree), then FIGURES."""
    params = [_params(data) for _, _, data in found]
    names = list(dict.fromkeys(name for p in params for name in p))  # in params.yaml's order
    differing = [n for n in names if len({json.dumps(p.get(n), sort_keys=True) for p in params}) > 1]
    table = [["", *(name for name, _, _ in found)], ["", *(rev for _, rev, _ in found)]]
    table += [[name, *(_shown(p.get(name)) for p in params)] for name in differing]
    for path, key, label in FIGURES:
        figures = [((data.get("metrics") or {}).get(path) or {}).get("data") or {} for _, _, data in found]
        table.append([label, *(_shown(figure.get(key)) for figure in figures)])
    return table


def blocks(table: list[list[str]], width: int = WIDTH) -> list[str]:
    """The table as lines no wider than `width`: the row names, then as many experiments' columns as
    fit; the rest in further blocks, each with the row names again, a blank line between."""
    label_width = max(len(row[0]) for row in table)
    widths = [max(len(row[i]) for row in table) for i in range(1, len(table[0]))]
    lines: list[str] = []
    start = 0
    while start < len(widths):
        used, stop = label_width, start
        while stop < len(widths) and (stop == start or used + GAP + widths[stop] <= width):
            used += GAP + widths[stop]
            stop += 1
        if lines:
            lines.append("")
        for row in table:
            cells = [row[0].ljust(label_width)] + [row[1 + i].ljust(widths[i]) for i in range(start, stop)]
            lines.append((" " * GAP).join(cells).rstrip())
        start = stop
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=WIDTH, help="the widest line, in characters")
    args = parser.parse_args(argv)
    dvc = Path(sys.executable).with_name("dvc")  # the venv's, as `make` runs it
    shown = subprocess.run([str(dvc), "exp", "show", "--json"], capture_output=True, text=True)
    if shown.returncode != 0:
        said = shown.stderr.strip().splitlines() or [f"exit {shown.returncode}"]
        print(f"error: dvc exp show failed: {said[-1]}", file=sys.stderr)
        return 1
    print("\n".join(blocks(rows(experiments(json.loads(shown.stdout))), args.width)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
