"""plain_png.py: 8-bit grey PNGs read many at a time give exactly Pillow's pixels; everything else,
and everything damaged, is left to Pillow's whole path."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from helpers import font_digits
from mnist_ann.predict.inputs.images.decode import decode_images
from mnist_ann.predict.inputs.images.plain_png import MOST_BYTES, SIGNATURE, read_plain_grey_pngs
from mnist_ann.predict.inputs.images.preparation import Preparation


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filtered(pixels: np.ndarray, filters: list[int]) -> bytes:
    """PNG's row filters applied by the book (a reference encoder): row y with filters[y]."""
    rows, above = [], np.zeros(pixels.shape[1], np.int32)
    for row, kind in zip(pixels.astype(np.int32), filters):
        left = np.concatenate([[0], row[:-1]])
        upper_left = np.concatenate([[0], above[:-1]])
        estimate = np.abs(above - upper_left), np.abs(left - upper_left), np.abs(left + above - 2 * upper_left)
        paeth = np.where((estimate[0] <= estimate[1]) & (estimate[0] <= estimate[2]), left,
                         np.where(estimate[1] <= estimate[2], above, upper_left))  # fmt: skip
        predicted = [0, left, above, (left + above) // 2, paeth][kind]
        rows.append(bytes([kind]) + ((row - predicted) % 256).astype(np.uint8).tobytes())
        above = row
    return b"".join(rows)


def _png(pixels: np.ndarray, filters: list[int], *, idat_parts=1, extra=b"", layout=(8, 0, 0, 0, 0)) -> bytes:
    """A PNG of `pixels` (8-bit grey unless `layout` says otherwise), IDAT cut in `idat_parts`,
    `extra` chunks between IHDR and IDAT."""
    height, width = pixels.shape
    compressed = zlib.compress(_filtered(pixels, filters))
    cut = -(-len(compressed) // idat_parts)
    idats = b"".join(_chunk(b"IDAT", compressed[i : i + cut]) for i in range(0, len(compressed), cut))
    header = _chunk(b"IHDR", struct.pack(">II5B", width, height, *layout))
    return SIGNATURE + header + extra + idats + _chunk(b"IEND", b"")


def _write(folder, files: dict[str, bytes]) -> list[str]:
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [str(folder / name) for name in files]


def test_every_row_filter_gives_the_pixels_and_pillows_values(tmp_path):
    """Each filter on the first row (where the row above is zeros: the row of zeros between stacked
    files stands for it) and after every other filter, in files read in one batch, of three sizes."""
    rng = np.random.default_rng(0)
    files, expected = {}, {}
    for i, (height, width) in enumerate([(28, 28)] * 6 + [(5, 3), (1, 1), (37, 100)]):
        pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
        filters = [(i + y * (1 + i % 4)) % 5 for y in range(height)]  # every pair of filters, first rows 0-4
        name = f"{i:02d}.png"
        files[name], expected[name] = _png(pixels, filters, idat_parts=1 + i % 3), pixels
    paths = _write(tmp_path, files)
    for path, pixels in zip(paths, read_plain_grey_pngs(paths)):
        expected_pixels = expected[path.rsplit("/", 1)[1]]
        assert pixels is not None and pixels.dtype == np.uint8
        np.testing.assert_array_equal(pixels, expected_pixels)
        np.testing.assert_array_equal(pixels, np.asarray(Image.open(path)))


def test_ancillary_chunks_and_pillows_own_files_are_read(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "a scanner")
    folder = tmp_path / "digits"
    folder.mkdir()
    for i, digit in enumerate(font_digits()[:20]):
        Image.fromarray(digit).save(folder / f"{i:02d}.PNG", pnginfo=info if i % 2 else None, dpi=(300, 300))
    paths = sorted(str(p) for p in folder.iterdir())
    pixels = read_plain_grey_pngs(paths)
    assert all(p is not None for p in pixels)
    np.testing.assert_array_equal(np.stack(pixels), font_digits()[:20])


def _odd_files() -> dict[str, bytes]:
    """PNGs the plain reader must leave to Pillow, each with what makes it so."""
    digit = font_digits()[0]
    good = _png(digit, [4] * 28)
    bad_crc = bytearray(good)
    bad_crc[30] ^= 1  # inside IHDR's checksum (bytes 29-32)
    rows = zlib.compress(_filtered(digit, [0] * 28))
    return {
        "rgb.png": _saved(Image.merge("RGB", [Image.fromarray(digit)] * 3)),
        "grey16.png": _saved(Image.fromarray(digit.astype(np.uint16) * 257)),
        "palette.png": _saved(Image.fromarray(digit).convert("P")),
        "interlaced.png": _png(digit, [0] * 28, layout=(8, 0, 0, 0, 1)),
        "bad-checksum.png": bytes(bad_crc),
        "no-iend.png": good[:-12],
        "bad-filter.png": SIGNATURE
        + _chunk(b"IHDR", struct.pack(">II5B", 28, 28, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(bytes([7]) + bytes(28 * 29 - 1)))
        + _chunk(b"IEND", b""),
        "short-data.png": SIGNATURE
        + _chunk(b"IHDR", struct.pack(">II5B", 28, 28, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", rows[: len(rows) // 3])
        + _chunk(b"IEND", b""),
        "unknown-critical.png": _png(digit, [0] * 28, extra=_chunk(b"ABCD", b"x")),
        "animated.png": _png(digit, [0] * 28, extra=_chunk(b"acTL", struct.pack(">II", 1, 0))),
        "split-idat.png": SIGNATURE
        + _chunk(b"IHDR", struct.pack(">II5B", 28, 28, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", rows[:40])
        + _chunk(b"tEXt", b"a\0b")
        + _chunk(b"IDAT", rows[40:])
        + _chunk(b"IEND", b""),
        "over-most-pixels.png": _png(np.pad(digit, ((0, 256 - 28), (0, 257 - 28))), [0] * 256),
        "bomb.png": SIGNATURE
        + _chunk(b"IHDR", struct.pack(">II5B", 100_000, 100_000, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(bytes(100_001 * 4)))
        + _chunk(b"IEND", b""),
        "large.png": _png(digit, [0] * 28, extra=_chunk(b"tEXt", b"pad\0" + bytes(MOST_BYTES))),
        "jpeg.png": _saved(Image.fromarray(digit), "JPEG"),
        "empty.png": b"",
    }


def _saved(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_anything_but_a_sound_plain_grey_png_is_left_to_pillow(tmp_path):
    """Left out, one by one and among sound files in one batch: the sound ones still come out."""
    odd = _odd_files()
    sound = {f"sound-{i}.png": _png(digit, [i % 5] * 28) for i, digit in enumerate(font_digits()[:3])}
    paths = _write(tmp_path, {**sound, **odd, "sound.bmp": _png(font_digits()[3], [0] * 28)})  # not named .png
    pixels = dict(zip(paths, read_plain_grey_pngs(paths)))
    left_out = {path.rsplit("/", 1)[1] for path, found in pixels.items() if found is None}
    assert left_out == {*odd, "sound.bmp"}
    for i in range(3):
        np.testing.assert_array_equal(pixels[str(tmp_path / f"sound-{i}.png")], font_digits()[i])


def test_a_zlib_bomb_is_never_inflated_past_the_image(tmp_path):
    """IDAT data that inflates to 50 MB for a 28x28 image (in a file within MOST_BYTES): the rows
    the image holds are read, the rest never inflated (Pillow also ignores data past the last row)."""
    rows = _filtered(font_digits()[0], [0] * 28)
    compressed = zlib.compress(rows + bytes(50_000_000), 9)
    header = _chunk(b"IHDR", struct.pack(">II5B", 28, 28, 8, 0, 0, 0, 0))
    path = _write(tmp_path, {"bomb.png": SIGNATURE + header + _chunk(b"IDAT", compressed) + _chunk(b"IEND", b"")})
    tracemalloc.start()
    (pixels,) = read_plain_grey_pngs(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(pixels, font_digits()[0])
    assert peak < 5_000_000


@pytest.mark.parametrize("preparation", [Preparation(), Preparation("dark", "none")])
def test_decoded_digits_are_the_same_by_either_road(tmp_path, preparation):
    """The same PNG files, named .png (the plain road) and .img (Pillow's whole road), and damaged
    ones among them: the same digits, positions, labels and the same errors word for word."""
    files = {f"{i:02d}": _png(digit, [i % 5] * 28) for i, digit in enumerate(font_digits()[:30])}
    files.update({name.removesuffix(".png"): data for name, data in _odd_files().items() if name != "large.png"})
    plain = _write(tmp_path / "plain", {f"{name}.png": data for name, data in files.items()})
    pillow = _write(tmp_path / "pillow", {f"{name}.img": data for name, data in files.items()})
    by_plain, by_pillow = decode_images(plain, preparation), decode_images(pillow, preparation)
    np.testing.assert_array_equal(by_plain[0], by_pillow[0])
    assert by_plain[1:3] == by_pillow[1:3] and set(range(30)) <= set(by_plain[1])
    assert [reason for _, reason in by_plain[3]] == [reason for _, reason in by_pillow[3]]


def _mutants(count: int, seed: int) -> dict[str, bytes]:
    """Sound grey PNGs with random bytes overwritten anywhere, or inside IDAT with its checksum
    made right again (so that only the pixel data is damaged), or cut short."""
    rng = np.random.default_rng(seed)
    mutants = {}
    for i in range(count):
        digit = font_digits()[i % len(font_digits())]
        data = bytearray(_png(digit, [int(f) for f in rng.integers(0, 5, 28)]))
        how = i % 3
        if how == 2:
            data = data[: rng.integers(8, len(data))]
        else:
            start, stop = (8, len(data)) if how == 0 else (41, len(data) - 16)  # IDAT's body: after IHDR and its head
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(start, stop)] = rng.integers(0, 256)
            if how == 1:
                length = int.from_bytes(data[33:37], "big")
                data[41 + length : 45 + length] = struct.pack(">I", zlib.crc32(bytes(data[37 : 41 + length])))
        mutants[f"{i:03d}"] = bytes(data)
    return mutants


def test_damaged_files_give_the_same_digits_or_errors_by_either_road(tmp_path):
    """A differential fuzzer: whatever the damage, the plain road and Pillow's whole road agree on
    every file, digit for digit and error for error."""
    mutants = _mutants(300, seed=7)
    plain = _write(tmp_path / "plain", {f"{name}.png": data for name, data in mutants.items()})
    pillow = _write(tmp_path / "pillow", {f"{name}.img": data for name, data in mutants.items()})
    by_plain, by_pillow = decode_images(plain, Preparation()), decode_images(pillow, Preparation())
    np.testing.assert_array_equal(by_plain[0], by_pillow[0])
    assert by_plain[1:3] == by_pillow[1:3]
    assert [reason for _, reason in by_plain[3]] == [reason for _, reason in by_pillow[3]]
    assert 0 < len(by_plain[1]) < len(mutants)  # some damage was survivable, some was not
