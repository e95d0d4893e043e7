"""predict's progress bar: on stderr when it is a terminal, counting images; nothing otherwise."""

from __future__ import annotations

import shutil
import sys


class ProgressBar:
    """A progress bar on stderr when it is a terminal (counting images), nothing otherwise."""

    def __init__(self, inputs: int):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            # A terminal that reports no size (0x0: some ptys, CI runners) makes tqdm hide the bar;
            # shutil falls back to 80x24 there.
            columns, lines = shutil.get_terminal_size()
            self.bar = tqdm(
                unit="img", unit_scale=True, file=sys.stderr, desc=f"{inputs} inputs", ncols=columns, nrows=lines
            )

    def __enter__(self):
        return self.bar.update if self.bar is not None else (lambda n: None)

    def __exit__(self, *exc):
        if self.bar is not None:  # (a tqdm bar without a total refuses bool())
            self.bar.close()
