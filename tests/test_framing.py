"""framing.py: the background decided per image, pictures without a digit refused, and MNIST's
framing, which gives one digit the same form wherever and however large it was drawn, and leaves
MNIST's own digits as they are."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import REPO, font_digits, font_glyph, predict, read_rows
from mnist_ann.core.framing import prepare


def pictures_of_one_digit(glyph: Image.Image) -> dict[str, np.ndarray]:
    """The same glyph as a user might hand it over: cropped tight (white on black), small and
    off-centre on a noisy sheet of paper (dark ink on light), and large in a corner of a black page."""
    rng = np.random.default_rng(3)
    crop = np.asarray(glyph, np.float32)
    h, w = crop.shape
    paper = np.full((3 * h, 3 * w), 235, np.float32)
    paper[h // 3 : h // 3 + h, 2 * w - 5 : 3 * w - 5] -= crop * (200 / 255)  # ink of grey 35
    paper += rng.normal(0, 6, paper.shape)
    page = np.zeros((4 * h, 4 * w), np.float32)
    page[:h, :w] = crop
    return {"crop": crop, "paper": np.clip(paper, 0, 255), "corner": page}


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two 28x28 images, the better of their alignments within one
    pixel (a centre of mass rounds to one pixel or its neighbour)."""
    padded = np.pad(b, 1)
    return min(
        float(np.abs(a - padded[1 + dy : 29 + dy, 1 + dx : 29 + dx]).mean()) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


@pytest.mark.parametrize("digit", range(10))
def test_a_digit_comes_out_in_one_form_wherever_it_was_drawn(digit):
    pictures = pictures_of_one_digit(font_glyph(digit, "DejaVuSans.ttf", 48, 1, 0))
    framed = {name: prepare(grey[None], "auto", "mnist") for name, grey in pictures.items()}
    assert {name: bool(light[0]) for name, (_, light, _) in framed.items()} == {
        "crop": False,
        "paper": True,
        "corner": False,
    }
    assert all(reasons == [None] for _, _, reasons in framed.values())
    forms = {name: digits[0].astype(np.float32) for name, (digits, _, _) in framed.items()}
    for name in ("paper", "corner"):
        assert distance(forms[name], forms["crop"]) < 8, name  # of 255: the same digit
    box = np.argwhere(forms["crop"] > 25)
    assert (box.max(axis=0) - box.min(axis=0) + 1).max() == 20  # MNIST's 20-pixel box
    centre = (forms["crop"] * np.indices((28, 28))).sum(axis=(1, 2)) / forms["crop"].sum()
    assert np.all(np.abs(centre - 14) <= 0.5)  # its centre of mass at the centre
    # without framing the pictures stay far apart: that is what framing is for
    plain = {name: prepare(grey[None], "auto", "none")[0][0].astype(np.float32) for name, grey in pictures.items()}
    assert distance(plain["corner"], plain["crop"]) > 20


def test_digits_in_mnist_form_come_out_as_they_went_in():
    digits, light, reasons = prepare(font_digits().astype(np.float32), "auto", "mnist")
    assert np.array_equal(digits, font_digits()) and not light.any() and reasons == [None] * len(font_digits())


@pytest.mark.network
def test_mnist_own_digits_keep_their_form(mnist_cache):
    """MNIST's test digits: framing changes none of them beyond a faint edge pixel or a stretch of
    contrast (a digit whose strongest ink is below 255)."""
    from mnist_ann.training.download.sources import download_mnist
    from mnist_ann.training.params import load_params

    x_test = download_mnist(load_params(REPO / "params.yaml").download, mnist_cache)["x_test"][:2000]
    framed, light, reasons = prepare(x_test.astype(np.float32), "auto", "mnist")
    assert reasons == [None] * len(x_test) and not light.any()
    difference = np.abs(framed.astype(np.int16) - x_test).reshape(len(x_test), -1)
    assert np.mean(difference.max(axis=1) <= 30) > 0.99


def _not_digits() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    pictures = {
        "white.png": np.full((40, 30), 255, np.uint8),
        "black.png": np.zeros((28, 28), np.uint8),
        "grey-noise.png": np.clip(rng.normal(128, 5, (50, 50)), 0, 255).astype(np.uint8),
        "faint.png": np.pad(np.full((10, 10), 20, np.uint8), 9),  # 20 grey levels of "ink"
    }
    framed_square = np.full((40, 40), 255, np.uint8)
    framed_square[[0, -1], :] = framed_square[:, [0, -1]] = 0  # white all over inside a thin dark frame
    pictures["square.png"] = framed_square
    # Issue 37 (4): one white pixel was framed to a full digit ("8" at 0.985); strips were scored
    pictures["pixel.png"] = np.pad(np.full((1, 1), 255, np.uint8), 50)
    pictures["dot.png"] = np.pad(np.full((3, 3), 255, np.uint8), 40)
    wide = np.full((1, 20000), 255, np.uint8)
    wide[0, 9000:9400] = 0
    pictures["wide-strip.png"], pictures["tall-strip.png"] = wide, wide.T.copy()
    return pictures


BLANKS = ("white.png", "black.png", "grey-noise.png", "faint.png")  # the others have ink, but no digit


@pytest.mark.parametrize(("background", "frame"), [("auto", "mnist"), ("auto", "none"), ("dark", "mnist")])
def test_blank_and_all_ink_pictures_are_reasons_not_digits(background, frame):
    for name, pixels in _not_digits().items():
        _, _, (reason,) = prepare(pixels.astype(np.float32)[None], background, frame)
        expected = "blank image: " if name in BLANKS else "not a digit: "
        assert reason is not None and reason.startswith(expected), (name, reason)
    _, _, (reason,) = prepare(font_digits()[3].astype(np.float32)[None], background, frame)
    assert reason is None


@pytest.mark.heavy
def test_blank_and_all_ink_pictures_are_reported_not_scored(exported, tmp_path):
    """End to end, through the command: such pictures are listed as errors, the digit is scored."""
    _, model_path = exported
    folder = tmp_path / "in"
    folder.mkdir()
    pictures = _not_digits()
    for name, pixels in pictures.items():
        Image.fromarray(pixels).save(folder / name)
    Image.fromarray(font_digits()[3]).save(folder / "three.png")
    result = predict("--model", model_path, folder, "--output", tmp_path / "out.csv")
    assert result.returncode == 2, result.stderr
    assert [row["source"] for row in read_rows(tmp_path / "out.csv")] == [str(folder / "three.png")]
    errors = {row["source"].rsplit("/", 1)[1]: row["error"] for row in read_rows(tmp_path / "out.errors.csv")}
    assert set(errors) == set(pictures)
    assert all(errors[name].startswith("blank image: " if name in BLANKS else "not a digit: ") for name in pictures)
    assert errors["pixel.png"] == "not a digit: the ink is a speck of 1 pixel"
    assert errors["tall-strip.png"] == "not a digit: a 1x20000 picture is a strip, more than 20 times as long as wide"


@pytest.mark.heavy
def test_transparent_pixels_become_the_ground_the_ink_stands_out_from(exported, tmp_path):
    """Issue 12: black digits on a transparent background were read as blank, all labelled 5."""
    _, model_path = exported
    ink = font_digits()[7]
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = ink  # black ink whose opacity is the digit
    Image.fromarray(rgba, "RGBA").save(tmp_path / "black-on-clear.png")
    white = rgba.copy()
    white[..., :3] = 255
    Image.fromarray(white, "RGBA").save(tmp_path / "white-on-clear.png")
    Image.fromarray(ink).save(tmp_path / "plain.png")
    result = predict("--model", model_path, tmp_path, "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = {row["source"].rsplit("/", 1)[1]: row for row in read_rows(tmp_path / "out.csv")}
    assert rows["black-on-clear.png"]["prepared"] == "mnist/light"
    assert rows["white-on-clear.png"]["prepared"] == "mnist/dark"
    probabilities = {name: [float(row[f"prob_{d}"]) for d in range(10)] for name, row in rows.items()}
    for name in ("black-on-clear.png", "white-on-clear.png"):
        assert np.allclose(probabilities[name], probabilities["plain.png"], atol=2e-3), name
