"""predict's progress bar: on stderr when it is a terminal, counting images, with a total and the
time left where the count is known before scoring; nothing when stderr is not a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.terminal import progress_bar
from . import objects
from .errors import InputError
from .inputs.discovery import Input


def expected_images(inputs: Sequence[Input], npz_key: str | None = None) -> int | None:
    """How many images `inputs` hold, where that is cheap to know: an image file is one, a local .npy
    or IDX file its first dimension (from its header). None where an input would have to be read
    through to know (an .npz member is decompressed whole; a gzipped or object store's array), or
    cannot be read at all (the run says why)."""
    from .inputs.arrays import ArrayInput

    total = 0
    for item in inputs:
        if item.kind == "image":
            total += 1
        elif item.kind in ("npy", "idx") and not objects.is_object(item.path) and not item.path.endswith(".gz"):
            try:
                total += ArrayInput(item, npz_key).count
            except InputError:
                return None
        else:
            return None
    return total


class ProgressBar:
    """A progress bar on stderr when it is a terminal (counting images, out of `images` where that
    is known), nothing otherwise."""

    def __init__(self, inputs: int, images: int | None = None):
        self.bar = progress_bar(images, "img", f"{inputs} inputs", unit_scale=True)

    def __enter__(self):
        return self.bar.update if self.bar is not None else (lambda n: None)

    def __exit__(self, *exc):
        if self.bar is not None:  # (a tqdm bar without a total refuses bool())
            self.bar.close()
