"""Write the pictures docs/predict.md shows for `--digits many`: a photographed number of MNIST test
digits on ruled paper (docs/images/number.png), and what predict prepared from it, its digits side
by side, each 28x28 drawn 4x (number-digits.png: --digits many; number-one-digit.png: the default,
one digit per picture). Built from the pipeline's data/processed (run `dvc repro` first).

    python tools/docs_pictures.py

tests/test_docs.py checks that the prepared pictures are what predict's preparation gives now."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"
NUMBER_DIGITS = (1, 3, 35, 4)  # rows of MNIST's test set: a 2, a 0, a 2, a 4
ZOOM, SEED = 3, 4  # the number written three times MNIST's size, photographed with this seed
SHOWN = 4  # each prepared 28x28 digit drawn this many times its size


def number_photo(x_test: np.ndarray) -> np.ndarray:
    """The docs' photo of "2024": uint8 greys."""
    from PIL import Image

    from mnist_ann.training.evaluation.photos import lined, on_paper
    from mnist_ann.training.evaluation.written_numbers import number_ink

    rng = np.random.default_rng(SEED)
    ink = number_ink([x_test[i] for i in NUMBER_DIGITS], rng, gaps=(3, 6))
    size = (ink.shape[1] * ZOOM, ink.shape[0] * ZOOM)
    ink = np.asarray(Image.fromarray(ink, "F").resize(size, Image.Resampling.BILINEAR))
    return np.rint(on_paper(lined(ink, rng, "ruled", 0.55 * ink.shape[0]), rng)).astype(np.uint8)


def side_by_side(digits: np.ndarray) -> np.ndarray:
    """Prepared 28x28 digits drawn SHOWN times their size in a row, 8 grey pixels apart."""
    large = [np.kron(digit, np.ones((SHOWN, SHOWN), np.uint8)) for digit in digits]
    gap = np.full((28 * SHOWN, 8), 128, np.uint8)
    return np.concatenate([part for digit in large for part in (digit, gap)][:-1], axis=1)


def prepared_pictures(photo: np.ndarray) -> dict[str, np.ndarray]:
    """What predict prepares from `photo`, in both modes, as the docs show it."""
    from mnist_ann.core.framing import prepare, prepare_numbers

    numbers, _, _ = prepare_numbers(photo.astype(np.float32)[None], "auto")
    single, _, _ = prepare(photo.astype(np.float32)[None], "auto", "mnist")
    return {"number-digits.png": side_by_side(numbers[0]), "number-one-digit.png": side_by_side(single)}


def main() -> None:
    from PIL import Image

    sys.path.insert(0, str(REPO / "src"))
    x_test = np.load(REPO / "data" / "processed" / "x_test.npy", allow_pickle=False)
    x_test = np.rint(x_test.reshape(-1, 28, 28) * (255 if x_test.max() <= 1 else 1)).astype(np.uint8)
    IMAGES.mkdir(exist_ok=True)
    photo = number_photo(x_test)
    Image.fromarray(photo).save(IMAGES / "number.png")
    for name, picture in prepared_pictures(photo).items():
        Image.fromarray(picture).save(IMAGES / name)


if __name__ == "__main__":
    main()
