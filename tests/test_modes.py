"""images/modes.py: every mode Pillow reads becomes the 8-bit grey of the same digit (the whole
round trip through files: test_decode.py's test of every mode)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits
from mnist_ann.predict.errors import InputError
from mnist_ann.predict.inputs.images.decode import decode_images
from mnist_ann.predict.inputs.images.modes import as_grey
from mnist_ann.predict.inputs.images.preparation import Preparation

DIGIT = font_digits()[3]


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(DIGIT.astype(np.float32) / 255),  # float in [0, 1]: it was called blank
        Image.fromarray(DIGIT.astype(np.float32)),  # float in [0, 255]
        Image.fromarray(DIGIT.astype(np.uint16) * 257),  # 16-bit
        Image.merge("LAB", [Image.fromarray(DIGIT), *[Image.new("L", (28, 28), 128)] * 2]),  # it was "damaged"
        Image.merge("RGB", [Image.fromarray(DIGIT)] * 3),
    ],
    ids=["float-0-1", "float-0-255", "16-bit", "cielab", "rgb"],
)
def test_every_mode_gives_the_digits_own_grey(image):
    grey = as_grey(image, "auto")
    assert grey.mode == "L" and np.array_equal(np.asarray(grey), DIGIT)


def test_a_float_image_with_nan_pixels_is_that_files_error(tmp_path):
    pixels = DIGIT.astype(np.float32) / 255
    pixels[3, 4] = np.nan
    with pytest.raises(InputError, match="a float image with NaN or infinite pixels"):
        as_grey(Image.fromarray(pixels), "auto")
    Image.fromarray(pixels).save(tmp_path / "nan.tiff")
    _, positions, _, failed, _ = decode_images([str(tmp_path / "nan.tiff")], Preparation())
    assert positions == [] and failed == [(str(tmp_path / "nan.tiff"), "a float image with NaN or infinite pixels")]
