"""Variants of the MNIST test set as people's digits differ from MNIST's: moved, turned, larger or
smaller, bolder or thinner strokes, blurred, noisy, and photographed dark on unevenly lit paper
(plain, ruled and squared: issue 41); and a set of rendered digits that MNIST did not make. Each
is made with a fixed seed (the same pictures on every run and machine), so that the evaluate
stage's accuracy on each one says how an experiment reads digits that are not in MNIST's exact
form (issue 24). The photos and the rendered set reach the model through `predict`'s own
preparation (framing.py), as users' images do.

numpy and Pillow only, on uint8 (n, 28, 28) digits, light ink on black as MNIST's."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SEED = 24  # the variants' own seed: fixed, so that every run scores the same images


def _each(images: np.ndarray, change: Callable) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(change(Image.fromarray(image, "L"))) for image in images])


def shifted(images: np.ndarray, rng: np.random.Generator, pixels: int = 3) -> np.ndarray:
    """Each digit moved `pixels` in one of the 8 directions (drawn per image), the gap left black."""
    out = np.zeros_like(images)
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for i, k in enumerate(rng.integers(0, len(steps), len(images))):
        dy, dx = steps[k][0] * pixels, steps[k][1] * pixels
        src = images[i, max(0, -dy) : 28 - max(0, dy), max(0, -dx) : 28 - max(0, dx)]
        out[i, max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def rotated(images: np.ndarray, rng: np.random.Generator, degrees: float = 20) -> np.ndarray:
    """Each digit turned by +-`degrees` (the sign drawn per image) about the image's centre."""
    from PIL import Image

    signs = rng.choice([-1, 1], len(images))
    turn = iter(signs * degrees)
    return _each(images, lambda image: image.rotate(float(next(turn)), resample=Image.Resampling.BILINEAR))


def scaled(images: np.ndarray, factor: float) -> np.ndarray:
    """Each digit scaled by `factor` about the image's centre (cropped, or padded with black)."""
    from PIL import Image

    side = max(1, round(28 * factor))
    offset = (side - 28) // 2

    def scale(image):
        resized = image.resize((side, side), Image.Resampling.BILINEAR)
        canvas = Image.new("L", (28, 28), 0)
        canvas.paste(resized, (-offset, -offset))
        return canvas

    return _each(images, scale)


def stroked(images: np.ndarray, thicker: bool) -> np.ndarray:
    """Strokes bolder or thinner, as another pen would draw them. Bolder: grey dilation by a 3x3
    square, a pixel added all round. Thinner: grey erosion by the 3x3 cross (a pixel and its four
    neighbours), the smallest erosion the grid has. The 3x3 square would take a pixel off every
    side and diagonal of MNIST's 2-3 pixel strokes: the median digit keeps 14% of its ink and one in
    seven keeps under 6%, fragments that a person cannot read either; the cross keeps a thin
    unbroken line (median 32%)."""
    if thicker:
        from PIL import ImageFilter

        return _each(images, lambda image: image.filter(ImageFilter.MaxFilter(3)))
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    up, down, left, right = padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]
    return np.minimum.reduce([padded[:, 1:-1, 1:-1], up, down, left, right])


def blurred(images: np.ndarray, radius: float = 1.0) -> np.ndarray:
    from PIL import ImageFilter

    return _each(images, lambda image: image.filter(ImageFilter.GaussianBlur(radius)))


def noisy(images: np.ndarray, rng: np.random.Generator, sigma: float = 40) -> np.ndarray:
    """Gaussian noise of `sigma` grey levels on every pixel, as a poor sensor adds."""
    return np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).astype(np.uint8)


def variants(images: np.ndarray) -> dict[str, np.ndarray]:
    """Every variant of `images` (uint8 (n, 28, 28)), by the name its accuracy is logged under."""
    rng = np.random.default_rng(SEED)
    return {
        "shift_3px": shifted(images, rng),
        "rotate_20deg": rotated(images, rng),
        "scale_0.7": scaled(images, 0.7),
        "scale_1.3": scaled(images, 1.3),
        "thick": stroked(images, thicker=True),
        "thin": stroked(images, thicker=False),
        "blur": blurred(images),
        "noise": noisy(images, rng),
    }


PHOTOS = 2000  # test digits photographed: enough for a figure to 0.01, in about a second
PAGE = 56  # the photo's side: the digit anywhere on a page twice its size
MNIST_HEIGHT = 20  # pixels an MNIST digit stands: the ruled lines are spaced from it


LINED_PHOTOS = 1000  # test digits photographed on each of ruled and squared paper


def photographed(
    images: np.ndarray, rng: np.random.Generator, paper: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The first PHOTOS digits written dark on grey paper, lit unevenly by up to 120 grey levels,
    with sensor noise (photos.py), then prepared as `predict` prepares a picture; and which
    of them preparation refused (scored as wrong). `paper`: ruled or squared, its lines through
    and beside the digit (the first LINED_PHOTOS digits); plain paper when None."""
    from ...core.framing import prepare
    from .photos import lined, on_paper, placed

    def page(image: np.ndarray) -> np.ndarray:
        ink = placed(image / 255.0, PAGE, rng)
        return on_paper(ink if paper is None else lined(ink, rng, paper, MNIST_HEIGHT), rng)

    pages = np.stack([page(image) for image in images[: PHOTOS if paper is None else LINED_PHOTOS]])
    digits, _, reasons = prepare(pages, "auto", "mnist")
    return digits, np.array([reason is not None for reason in reasons])


def rendered() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rendered set (rendered.py) prepared as `predict` prepares pictures: the digits,
    their labels, and which of them preparation refused."""
    from ...core.framing import prepare
    from .rendered import rendered_set

    pictures, labels = rendered_set()
    prepared = [prepare(picture[None], "auto", "mnist") for picture in pictures]  # each its own size
    digits = np.concatenate([digit for digit, _, _ in prepared])
    return digits, labels, np.array([reasons[0] is not None for _, _, reasons in prepared])


def as_digits(pixels: np.ndarray) -> np.ndarray:
    """Model-ready float pixels (n, 784) in [0, 1] back as the uint8 (n, 28, 28) digits they came from."""
    return np.rint(pixels.reshape(len(pixels), 28, 28) * 255).astype(np.uint8)


def accuracies(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy on each variant of the test digits `images` (uint8 (n, 28, 28)) and on the rendered
    set, `predict` taking uint8 (n, 28, 28) digits to class probabilities; and `mean`, their
    average. A picture that preparation refuses counts as wrong."""
    return variant_accuracies(correct_on(predict, variant_sets(images, labels)))


VariantSet = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]  # digits, labels, refused by preparation


def variant_sets(images: np.ndarray, labels: np.ndarray) -> dict[str, VariantSet]:
    """Every variant `accuracies` scores, made once: (digits, labels, refused or None) by name; what
    two models are compared on (training/promotion.py)."""
    sets: dict[str, VariantSet] = {name: (variant, labels, None) for name, variant in variants(images).items()}
    photos, refused = photographed(images, np.random.default_rng([SEED, 1]))
    sets["photo_gradient"] = (photos, labels[: len(photos)], refused)
    for number, paper in enumerate(("ruled", "squared"), 2):
        photos, refused = photographed(images, np.random.default_rng([SEED, number]), paper)
        sets[f"photo_{paper}"] = (photos, labels[: len(photos)], refused)
    sets["rendered"] = rendered()
    return sets


def correct_on(predict: Callable[[np.ndarray], np.ndarray], sets: dict[str, VariantSet]) -> dict[str, np.ndarray]:
    """Whether `predict` reads each picture of each set right, by set name; a picture that
    preparation refused counts as wrong. What a paired comparison of two models needs."""

    def correct(digits: np.ndarray, truth: np.ndarray, refused: np.ndarray | None) -> np.ndarray:
        right = predict(digits).argmax(axis=1) == truth
        return right & ~refused if refused is not None else right

    return {name: correct(*variant) for name, variant in sets.items()}


def variant_accuracies(correct: dict[str, np.ndarray]) -> dict[str, float]:
    """The accuracy on each set, and `mean`, their average (none for no sets)."""
    figures = {name: float(right.mean()) for name, right in correct.items()}
    return {**figures, "mean": float(np.mean(list(figures.values())))} if figures else {}
