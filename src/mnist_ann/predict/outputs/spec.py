"""What predict writes, as one value (`OutputSpec`: the format, the columns, the uncertain flag) and
the names of the files beside the rows, so that every writer (a file, an object, a shard, a task's
shard on a Ray worker) takes one description instead of the same three options each. Light on
purpose (no numpy), as the command's options are: `mnist-ann --help` imports it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

FORMATS = ("csv", "jsonl", "parquet")
ERRORS_SUFFIX = ".errors.csv"  # the failed inputs, beside a file output: predictions.errors.csv
MONITOR_SUFFIX = ".monitor.json"  # the batch's summary (core/monitoring.py): predictions.monitor.json
ERRORS_NAME, MANIFEST_NAME = "errors.csv", "_SUCCESS"  # in a folder (or prefix) of shards
MONITOR_NAME = "monitor.json"  # the batch's summary, in a folder (or prefix) of shards
STDOUT = "-"  # `--output -`: the rows go to standard output (CSV or JSON Lines), as Unix tools do
# Every name predict writes into a folder (or prefix) of shards: anything else there is someone's.
# Beside the shards, errors.csv, monitor.json and _SUCCESS: a job's lease on a prefix (prefix_lease.py) and the
# temporary name of an object being uploaded (core/files.py's temporary_name) that a killed job left.
OURS = re.compile(
    rf"part-\d{{5,}}\.({'|'.join(FORMATS)})|{re.escape(ERRORS_NAME)}|{re.escape(MONITOR_NAME)}|{re.escape(MANIFEST_NAME)}"
    r"|_running/[0-9a-f]{12}\.json|(_running/)?\.mnist-ann-\d+-[0-9a-f]{6}-[0-9a-f]{8}\.tmp"
)


@dataclass(frozen=True)
class OutputSpec:
    """How rows are written: `fmt` (csv, jsonl or parquet), the ten probabilities or not, and
    `min_confidence`, below which a row says it is uncertain (a column), for a person to check.
    `numbers` (--digits many): a row is a number, its label the digits read left to right, its
    confidence the lowest of theirs, with the count and each digit's label and confidence; the
    probabilities are not written (ten per digit)."""

    fmt: str = "csv"
    with_probabilities: bool = True
    min_confidence: float | None = None
    numbers: bool = False

    @property
    def flags_uncertain(self) -> bool:
        return self.min_confidence is not None

    def header(self) -> list[str]:
        """The columns, in order (a CSV's header; the keys of a JSON line; Parquet's columns)."""
        from ...core.mnist import NUM_CLASSES  # numpy's import, paid by writers only

        uncertain = ["uncertain"] if self.flags_uncertain else []
        if self.numbers:
            return ["source", "label", "confidence", *NUMBER_COLUMNS, "prepared", *uncertain]
        probabilities = [f"prob_{d}" for d in range(NUM_CLASSES)] if self.with_probabilities else []
        return ["source", "label", "confidence", *probabilities, "prepared", *uncertain]


NUMBER_COLUMNS = ("digits", "digit_labels", "digit_confidences")  # a number's count, and each digit's


def errors_name(output_name: str) -> str:
    """The errors file's name beside an output file's: `p.errors.csv` for `p.csv` (or `p.parquet`)."""
    return PurePath(output_name).stem + ERRORS_SUFFIX


def monitor_name(output_name: str) -> str:
    """The batch summary's name beside an output file's: `p.monitor.json` for `p.csv`."""
    return PurePath(output_name).stem + MONITOR_SUFFIX


def beside_names(output_name: str) -> tuple[str, str]:
    """Every file written beside an output file: the errors list and the batch summary."""
    return errors_name(output_name), monitor_name(output_name)
