"""The ground a digit lies on, made flat before its ink is measured. A photo of a sheet is lit
unevenly (a gradient across it, darker corners, a soft shadow): a threshold set from the border
then takes the dark side of the paper for ink, and the picture is called blank. The ground is
estimated at a scale larger than a stroke and divided out (paper) or subtracted (a dark ground), so
that ink is measured against the ground around it.

numpy and Pillow only: the estimate runs on the image shrunk to about 48 pixels a side, so that it
costs about the same for a 1000x1000 photo as for a small crop."""

from __future__ import annotations

import numpy as np

UNEVEN = 12  # grey levels between the median of the border and its far end on the ground's side
# (the 5th percentile of a dark ground, the 95th of paper): above, the ground's light varies (a
# gradient of 30 levels across a picture gives about 15). Flat grounds stay below: MNIST's 0, paper
# with sensor noise of sigma 6 about 10. Ink touching the border lies on the other side: a digit
# cropped tight is not mistaken for uneven light.
SHRUNK = 48  # the side, in pixels, of the image the ground is estimated on
WINDOW = 4  # the ground is what remains of the image after taking away anything narrower than a
# quarter of its side: the strokes of a digit, which are at most about an eighth of it


def uneven_grounds(ring: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Which images of a stack lie on a ground uneven enough to flatten, given their borders (n, k)
    and which of them are dark ink on paper."""
    low, middle, high = np.percentile(ring, [5, 50, 95], axis=1)
    return np.where(paper, high - middle, middle - low) > UNEVEN


def flatten_ground(grey: np.ndarray, paper: bool) -> np.ndarray:
    """One (h, w) float32 image less its ground's light. `paper`: dark ink on a light ground, whose
    light multiplies ink and paper alike (a shadow darkens both): the image is divided by the
    paper's brightness, so that the paper becomes its median grey everywhere and the ink keeps its
    share of it. Otherwise light ink on a dark ground, whose stray light adds: the ground is
    subtracted and becomes 0.

    The ground is estimated on the image shrunk to about SHRUNK pixels a side: a minimum and a
    maximum over a window a quarter of its side (for paper, the other way round), which removes the
    strokes and keeps the slow changes of light, then smoothed and enlarged back."""
    from PIL import Image

    height, width = grey.shape
    factor = max(1, min(height, width) // SHRUNK)
    rows, cols = height // factor * factor, width // factor * factor
    shrunk = grey[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))
    window = max(3, min(shrunk.shape) // WINDOW) | 1
    first, then = (np.max, np.min) if paper else (np.min, np.max)  # strokes are dark on paper
    small = _box(_extreme(_extreme(shrunk, window, first), window, then), window).astype(np.float32)
    ground = np.asarray(Image.fromarray(small, "F").resize((width, height), Image.Resampling.BILINEAR))
    if paper:  # the median of the small estimate: the same figure, a thousandth of the work
        flat = grey / np.maximum(ground, 1)
        flat *= np.median(small)
    else:
        flat = grey - ground
    return np.clip(flat, 0, 255, out=flat)


def _extreme(image: np.ndarray, window: int, reduce) -> np.ndarray:
    """The minimum or maximum over a square window around each pixel (separable; edges point-reflected)."""
    half = window // 2
    for axis in (0, 1):
        # Edges extended by point reflection, which continues a gradient: repeated, the edge value
        # made the ground at the dark edge of a lit page too bright, and its paper looked like ink.
        widths = [(half, half) if a == axis else (0, 0) for a in (0, 1)]
        padded = np.pad(image, widths, mode="reflect", reflect_type="odd")
        image = reduce(np.lib.stride_tricks.sliding_window_view(padded, window, axis=axis), axis=-1)
    return image


def _box(image: np.ndarray, window: int) -> np.ndarray:
    """The mean over a square window a third the opening's around each pixel: its flat steps made
    smooth, with little of the light's curvature (vignetting) averaged away."""
    return _extreme(image, max(3, window // 3) | 1, np.mean)
