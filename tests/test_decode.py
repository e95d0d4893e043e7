"""images/decode.py: image files in any format and mode Pillow reads become the digits Keras would see."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from helpers import assert_rows_match_keras, font_digits, predict, predict_damaged_folder, read_rows
from mnist_ann.predict.inputs.images import decode as images
from mnist_ann.predict.inputs.images.decode import PENDING_PIXELS, decode_images
from mnist_ann.predict.inputs.images.preparation import Preparation


def _image_variants(folder):
    """The same digits saved in many formats and modes; all lossless ones give the same pixels."""
    saved = []
    for i, digit in enumerate(font_digits()[:22]):
        grey = Image.fromarray(digit, "L")
        variants = [
            ("png", grey),
            ("bmp", grey),
            ("tiff", grey),
            ("webp", grey),
            ("png", Image.merge("RGB", [grey] * 3)),
            ("png", Image.merge("RGBA", [grey] * 3 + [Image.new("L", grey.size, 255)])),
            ("png", grey.convert("P")),
            ("png", Image.fromarray(digit.astype(np.uint16) * 257)),  # 16-bit
            ("tiff", Image.fromarray(digit.astype(np.float32) / 255)),  # float in [0, 1]: it was called blank
            ("tiff", Image.fromarray(digit.astype(np.float32))),  # float in [0, 255]
            ("tiff", Image.merge("LAB", [grey, *[Image.new("L", grey.size, 128)] * 2])),  # CIELab: it was "damaged"
        ]
        kind, image = variants[i % len(variants)]
        path = folder / ("nested" if i % 2 else "") / f"{i:02d}.{kind}"
        path.parent.mkdir(exist_ok=True)
        image.save(path, **({"lossless": True} if kind == "webp" else {}))
        saved.append((path, digit))
    return saved


def test_image_files_in_any_mode_give_the_digits_that_were_saved(tmp_path):
    saved = _image_variants(tmp_path / "images")
    digits, positions, applied, failed, _ = decode_images([str(path) for path, _ in saved], Preparation())
    assert failed == [] and positions == list(range(len(saved))) and set(applied) == {"mnist/dark"}
    for (path, digit), decoded in zip(saved, digits):
        assert np.array_equal(decoded, digit), path


def test_resize_invert_and_animation(tmp_path):
    digit = font_digits()[0]
    Image.fromarray(255 - digit).save(tmp_path / "scan.png")  # dark on light
    big = Image.fromarray(digit).resize((56, 56), Image.Resampling.NEAREST)
    big.save(tmp_path / "big.png")
    frames = [Image.fromarray(digit), Image.fromarray(font_digits()[1])]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    inverted, _, applied, _, _ = decode_images([str(tmp_path / "scan.png")], Preparation(background="light"))
    assert np.array_equal(inverted[0], digit) and applied == ["mnist/light"]
    unframed = Preparation(background="dark", frame="none")  # the whole image resized
    plain, _, applied, failed, _ = decode_images([str(tmp_path / "big.png"), str(tmp_path / "anim.gif")], unframed)
    assert failed == [] and applied == ["none/dark", "none/dark"]
    resized = np.asarray(big.resize((28, 28), Image.Resampling.LANCZOS))
    first_frame = np.asarray(Image.open(tmp_path / "anim.gif").convert("L"))
    assert np.abs(plain.astype(int) - np.stack([resized, first_frame])).max() <= 1  # float32 rounding


@pytest.mark.heavy
def test_image_folders_are_scored_as_keras_scores_their_digits(exported, tmp_path):
    """End to end, through the command: the folder walked, each image decoded, scored as Keras would."""
    keras_model, model_path = exported
    saved = _image_variants(tmp_path / "images")
    result = predict("--model", model_path, tmp_path / "images", "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = {row["source"]: row for row in read_rows(tmp_path / "out.csv")}
    assert set(rows) == {str(path) for path, _ in saved}
    assert_rows_match_keras([rows[str(path)] for path, _ in saved], keras_model, [digit for _, digit in saved])


def _mutants(count_per_format: int = 30) -> dict[str, bytes]:
    """A small deterministic mutation fuzzer: a digit saved in six formats, then 1-10 random bytes
    overwritten, or the file cut short, per mutant. Also content Pillow identifies by magic
    alone (BLP, DDS) under a .png name."""
    rng = random.Random(11)
    mutants = {"blp.png": b"BLP1" + bytes(200), "dds.png": b"DDS " + struct.pack("<I", 124) + b"\xff" * 200}
    for fmt in ("PNG", "JPEG", "GIF", "TIFF", "BMP", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(font_digits()[0]).save(buffer, fmt)
        seed = buffer.getvalue()
        for i in range(count_per_format):
            data = bytearray(seed)
            if i % 5 == 4:
                data = data[: rng.randrange(8, len(data))]
            else:
                for _ in range(rng.randint(1, 10)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            mutants[f"{fmt.lower()}-{i:02d}.{fmt.lower()}"] = bytes(data)
    return mutants


@pytest.mark.heavy
def test_fuzzed_images_never_stop_the_batch(exported, tmp_path):
    """Whatever a damaged image makes Pillow raise is that image's error (issue 11): every file is
    either scored or listed, and the run ends with exit 0 or 2, never a traceback."""
    _, model_path = exported
    folder, mutants = tmp_path / "fuzz", _mutants()
    predict_damaged_folder(model_path, folder, mutants, tmp_path / "out.csv")
    scored = {row["source"] for row in read_rows(tmp_path / "out.csv")}
    failed = {row["source"] for row in read_rows(tmp_path / "out.errors.csv")}
    assert scored | failed == {str(folder / name) for name in mutants} and not scored & failed
    assert str(folder / "blp.png") in failed and str(folder / "dds.png") in failed


def _measured_peak(paths, preparation):
    """decode_images's result and the most memory numpy held while it ran (tracemalloc follows numpy's
    arrays; Pillow's own buffers are outside it and the same either way)."""
    tracemalloc.start()
    try:
        result = decode_images(paths, preparation)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_task_of_large_images_holds_about_one_of_them_and_gives_each_its_own_digit(tmp_path):
    """256 small files of 6000x6000 pixels once made a task hold them all as float32 (8 took 4.5 GB):
    large images are prepared as they come, so the peak stays near one image's, whatever their count,
    and every image gets the digit and label it gets alone."""
    side = int((PENDING_PIXELS + 1) ** 0.5) + 1  # just past the budget: each is prepared on its own
    paths = []
    for i, digit in enumerate(font_digits()[:6]):
        small = Image.fromarray(digit if i % 2 else 255 - digit, "L")
        big = small.resize((side, side), Image.Resampling.NEAREST).convert("RGB")  # RGB: Pillow's road
        for name, image in ((f"{i}big.png", big), (f"{i}small.png", small)):
            image.save(tmp_path / name)
            paths.append(str(tmp_path / name))
    preparation = Preparation("auto", "mnist")
    alone = [decode_images([path], preparation) for path in paths]
    _, one_peak = _measured_peak(paths[:1], preparation)
    together, peak = _measured_peak(paths, preparation)
    digits, positions, applied, failed, _ = together
    assert failed == [] and positions == list(range(len(paths)))
    assert all((digit == single[0][0]).all() for digit, single in zip(digits, alone))
    assert applied == [single[2][0] for single in alone] and "mnist/light" in applied and "mnist/dark" in applied
    assert peak < 1.5 * one_peak, (peak, one_peak)  # held all together: ~6x


def test_images_of_many_sizes_wait_no_more_than_the_budget_in_all(tmp_path, monkeypatch):
    """The bound is on the pixels waiting in all sizes together: twelve images, each of a size of
    its own and under half the budget, must not all wait (a bound per size let them: 256 such files
    would hold 4 GB). The pixels waiting are counted as images are decoded and prepared."""
    side = int((PENDING_PIXELS / 3) ** 0.5)
    paths = []
    for i in range(12):
        image = Image.fromarray(font_digits()[i % len(font_digits())], "L").resize((side + i, side - i)).convert("RGB")
        image.save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    waiting, most = [0], [0]

    def decoded(path, background):
        grey = real_decode(path, background)
        waiting[0] += grey.size
        most[0] = max(most[0], waiting[0])
        return grey

    def prepared(greys, background, frame):
        waiting[0] -= greys.size
        return real_prepare(greys, background, frame)

    real_decode, real_prepare = images._decode, images.prepare_counted
    monkeypatch.setattr(images, "_decode", decoded)
    monkeypatch.setattr(images, "prepare_counted", prepared)
    digits, positions, _, failed, _ = decode_images(paths, Preparation())
    assert failed == [] and positions == list(range(12)) and len(digits) == 12 and waiting[0] == 0
    assert PENDING_PIXELS <= most[0] < PENDING_PIXELS + side * side * 1.1, most[0]  # per size: 12 images' worth


def test_a_photo_stored_sideways_with_an_exif_orientation_is_read_upright(tmp_path):
    """Issue 26 (11): a phone's photo of an upright digit, stored turned with Orientation=6, read as
    stored scored 0 for a 7. Each orientation a camera writes gives the upright digit's pixels."""
    upright = Image.fromarray(font_digits()[7], "L").resize((112, 112))
    # Orientation tag -> what the camera did to the stored pixels (the viewer undoes it)
    stored_as = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    stored_as.update({2: Image.Transpose.FLIP_LEFT_RIGHT, 4: Image.Transpose.FLIP_TOP_BOTTOM})
    expected = images._decode(_saved(upright, tmp_path / "upright.png"), "auto")
    for orientation, turned in stored_as.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        for kind in ("png", "tiff", "webp"):  # lossless, so that the pixels must match exactly
            path = tmp_path / f"{orientation}.{kind}"
            upright.transpose(turned).save(path, exif=exif, **({"lossless": True} if kind == "webp" else {}))
            assert np.array_equal(images._decode(str(path), "auto"), expected), (orientation, kind)
    sideways = tmp_path / "sideways.png"
    upright.transpose(Image.Transpose.ROTATE_90).save(sideways)  # no tag: read as stored, still
    assert not np.array_equal(images._decode(str(sideways), "auto"), expected)


def _saved(image, path) -> str:
    image.save(path)
    return str(path)


def test_a_picture_of_several_digits_says_so_in_how_it_was_prepared(tmp_path):
    """Issue 41 (3): what the command's `prepared` column and the Predictor's answers carry."""
    from helpers import font_number

    Image.fromarray(font_number("12", 6)).save(tmp_path / "twelve.png")
    Image.fromarray(font_number("1", 0)).save(tmp_path / "one.png")
    paths = [str(tmp_path / "twelve.png"), str(tmp_path / "one.png")]
    _, positions, applied, failed, _ = decode_images(paths, Preparation())
    assert failed == [] and positions == [0, 1]
    assert applied == ["mnist/light/2-marks", "mnist/light"]
