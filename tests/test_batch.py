"""batch.py: inputs scored in chunks, in their order; every kind of bad input is skipped, named and
listed, and the rest are scored."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from helpers import DIGITS, assert_rows_match_keras, predict, read_rows


def test_array_larger_than_a_batch_is_scored_in_chunks(exported, tmp_path):
    keras_model, model_path = exported
    images = np.concatenate([DIGITS] * 3)  # 120 images, batches of 7, indices cross 10 and 100
    np.save(tmp_path / "big.npy", images)
    result = predict("--model", model_path, tmp_path / "big.npy", "--output", tmp_path / "out.csv", "--batch-size", 7)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [f"{tmp_path / 'big.npy'}#{i}" for i in range(120)]
    assert_rows_match_keras(rows, keras_model, images)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


BAD_INPUTS = {
    "empty.png": (b"", "not an image Pillow can read"),
    "notes.txt": (b"just words", "not an image Pillow can read"),
    "truncated.png": (None, "damaged image"),
    "bomb.png": (_png_claiming(20000, 20000), "refused as a decompression bomb"),
    "shape.npy": (np.zeros((3, 27, 28), np.uint8), "array must have shape (N, 28, 28) or (N, 784), got (3, 27, 28)"),
    "rank.npy": (np.zeros((784,), np.uint8), "array must have shape (N, 28, 28) or (N, 784), got (784,)"),
    "nan.npy": (np.full((2, 784), np.nan, np.float32), "float pixels must be finite"),
    "big.npy": (np.full((2, 784), 300, np.int16), "integer pixels must be 0-255, got 300..300"),
    "negative.npy": (np.full((2, 784), -4, np.int32), "integer pixels must be 0-255, got -4..-4"),
    "objects.npy": (np.array([None, 1], dtype=object), "holds Python objects"),
    "cut.npy": (None, "cannot read"),
    "nokey.npz": (None, "npz has no one of the keys x, x_test (or --key); it has a, b"),
    "bad-idx3-ubyte": (b"\x00\x00\x08\x03" + struct.pack(">III", 5, 28, 28) + b"\0" * 100, "IDX file is truncated"),
}


def _write_bad(folder):
    good = io.BytesIO()
    Image.fromarray(DIGITS[0]).save(good, "PNG")
    for name, (content, _) in BAD_INPUTS.items():
        path = folder / name
        if name == "truncated.png":
            path.write_bytes(good.getvalue()[:60])
        elif name == "cut.npy":
            np.save(path, DIGITS[:10])
            path.write_bytes(path.read_bytes()[:-500])
        elif name == "nokey.npz":
            np.savez(path, a=DIGITS[:2], b=DIGITS[:2])
        elif isinstance(content, np.ndarray):
            np.save(path, content, allow_pickle=content.dtype == object)
        else:
            path.write_bytes(content)


def test_bad_inputs_are_skipped_and_listed(exported, tmp_path):
    keras_model, model_path = exported
    folder = tmp_path / "mixed"
    folder.mkdir()
    _write_bad(folder)
    Image.fromarray(DIGITS[1]).save(folder / "good.png")
    np.save(folder / "good.npy", DIGITS[2:4])
    result = predict("--model", model_path, folder, tmp_path / "absent.png", "--output", tmp_path / "out.csv")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [
        str(folder / "good.npy") + "#0",
        str(folder / "good.npy") + "#1",
        str(folder / "good.png"),
    ]
    assert_rows_match_keras(rows, keras_model, [DIGITS[2], DIGITS[3], DIGITS[1]])
    errors = {row["source"]: row["error"] for row in read_rows(tmp_path / "out.errors.csv")}
    expected = {str(folder / name): reason for name, (_, reason) in BAD_INPUTS.items()}
    expected[str(tmp_path / "absent.png")] = "no such file or folder"
    assert set(errors) == set(expected)
    for source, reason in expected.items():
        assert reason in errors[source], (source, errors[source])
        assert any(line.endswith(f"skipped {source}: {errors[source]}") for line in result.stderr.splitlines())
