"""Progress bars for people at a terminal: on stderr when it is one, nothing when it is not (a file,
a pipe, a CI log). predict counts images with one, the train stage epochs."""

from __future__ import annotations

import shutil
import sys
from typing import Any


def progress_bar(total: int | None, unit: str, desc: str, **options: Any) -> Any:
    """A tqdm bar on stderr counting `unit`s out of `total` (the time left shown where it is known),
    when stderr is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    # A terminal that reports no size (0x0: `script`, some ptys and CI runners) makes tqdm hide the
    # bar; shutil falls back to 80x24 there.
    columns, lines = shutil.get_terminal_size()
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, ncols=columns, nrows=lines, **options)
