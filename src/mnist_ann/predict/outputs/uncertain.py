"""Which rows say `uncertain` (--min-confidence): the rows a person should check."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..inputs.images.preparation import holds_several


def uncertain_rows(
    confidence: np.ndarray, min_confidence: float | None, several: np.ndarray | None = None
) -> np.ndarray:
    """Confidence under `min_confidence` (none: no row for that), or a picture that holds several
    digit-sized marks side by side (`several`, per row: read as one digit, it may be a number)."""
    low = np.asarray(confidence < min_confidence) if min_confidence is not None else np.zeros(len(confidence), bool)
    return low if several is None else low | several


def several_rows(prepared: Sequence[str]) -> np.ndarray:
    """Which rows' `prepared` values say their picture holds several digit-sized marks (end -marks)."""
    return np.fromiter(map(holds_several, prepared), bool, len(prepared))
