"""arrays.py: array files of every layout read in chunks, scored as Keras scores the same pixels;
damaged or hostile array files are skipped whole, never half scored, never a traceback."""

from __future__ import annotations

import gzip
import io
import random
import struct
import zipfile

import numpy as np
import pytest

from helpers import (
    assert_rows_match_keras,
    font_digits,
    idx_bytes,
    predict,
    predict_damaged_folder,
    read_rows,
)
from mnist_ann.core.mnist import preprocess
from mnist_ann.predict.errors import InputError
from mnist_ann.predict.inputs.arrays import ArrayInput
from mnist_ann.predict.inputs.discovery import Input, kind_of

LAYOUTS = [
    "npy-uint8-3d",
    "npy-float-flat",
    "npy-fortran-3d",
    "npy-fortran-flat",
    "npz-x",
    "npz-x_test",
    "idx",
    "idx-gz",
]


def _saved(tmp_path, layout: str, images: np.ndarray):
    """`images` written in one of the array layouts predict reads; its path."""
    path = (
        tmp_path
        / {
            "npy-uint8-3d": "a.npy",
            "npy-float-flat": "a.npy",
            "npy-fortran-3d": "a.npy",
            "npy-fortran-flat": "a.npy",
            "npz-x": "a.npz",
            "npz-x_test": "a.npz",
            "idx": "t10k-images-idx3-ubyte",
            "idx-gz": "t10k-images-idx3-ubyte.gz",
        }[layout]
    )
    if layout == "npy-uint8-3d":
        np.save(path, images)
    elif layout == "npy-float-flat":
        np.save(path, images.reshape(25, 784).astype(np.float32) / 255)
    elif layout == "npy-fortran-3d":  # issue 26 (10): read through the map, 2.5x C order's memory
        np.save(path, np.asfortranarray(images))
    elif layout == "npy-fortran-flat":
        np.save(path, np.asfortranarray(images.reshape(25, 784).astype(">f8") / 255))
    elif layout == "npz-x":
        np.savez(path, x=images, y=np.zeros(25))
    elif layout == "npz-x_test":
        np.savez_compressed(path, x_train=font_digits()[25:], x_test=images)
    elif layout == "idx":
        path.write_bytes(idx_bytes(images))
    else:
        path.write_bytes(gzip.compress(idx_bytes(images)))
    return path


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_gives_the_model_ready_pixels_chunk_by_chunk(tmp_path, layout):
    images = font_digits()[:25]
    path = _saved(tmp_path, layout, images)
    array = ArrayInput(Input(str(path), kind_of(path.name)))
    array.check(7)
    chunks = list(array.chunks(7))
    assert array.count == 25 and [start for start, _ in chunks] == [0, 7, 14, 21]
    np.testing.assert_array_equal(np.concatenate([pixels for _, pixels in chunks]), preprocess(images))


@pytest.mark.heavy
@pytest.mark.parametrize("layout", ["npy-float-flat", "idx-gz"])
def test_array_files_are_scored_as_keras_scores_their_images(exported, tmp_path, layout):
    """End to end, through the command: rows named path#i, as Keras scores the same pixels."""
    keras_model, model_path = exported
    images = font_digits()[:25]
    path = _saved(tmp_path, layout, images)
    result = predict("--model", model_path, path, "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [f"{path}#{i}" for i in range(25)]
    assert_rows_match_keras(rows, keras_model, images)
    assert not (tmp_path / "out.errors.csv").exists()


def _npz_bytes(compress: bool = False, member: str = "x.npy") -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive, archive.open(member, "w") as fp:
        np.lib.format.write_array(fp, font_digits()[:4])
    return buffer.getvalue()


def _npz_twice() -> bytes:
    """Both `x.npy` (small: the header that was checked) and `x` (what numpy's npz["x"] loads)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, images in (("x.npy", font_digits()[:4]), ("x", font_digits()[:2])):
            with archive.open(member, "w") as fp:
                np.lib.format.write_array(fp, images)
    return buffer.getvalue()


def _set_flag_bits(data: bytes, offset_in_header: int, value: int, width: int) -> bytes:
    """Patch a field of every local and central zip header (signatures PK\\3\\4 and PK\\1\\2)."""
    out = bytearray(data)
    for signature, field in ((b"PK\x03\x04", offset_in_header), (b"PK\x01\x02", offset_in_header + 2)):
        at = out.find(signature)
        out[at + field : at + field + width] = value.to_bytes(width, "little")
    return bytes(out)


def _hostile_arrays() -> dict[str, bytes]:
    stored, deflated = _npz_bytes(), _npz_bytes(compress=True)
    flipped = bytearray(stored)
    flipped[stored.find(b"NUMPY") + 200] ^= 0xFF  # one pixel byte: the CRC no longer matches
    bad_deflate = bytearray(deflated)
    start = deflated.find(b"x.npy") + len("x.npy")
    bad_deflate[start : start + 40] = b"\xff" * 40
    gz = gzip.compress(idx_bytes(font_digits()[:20]))
    promising = gzip.compress(idx_bytes(font_digits()[:20])[:16] + font_digits()[:20].tobytes()[: 784 * 16])
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    return {
        "member-without-suffix.npz": _npz_bytes(member="x"),
        "x-and-x.npy.npz": _npz_twice(),
        "flipped-byte.npz": bytes(flipped),
        "bad-deflate.npz": bytes(bad_deflate),
        "encrypted.npz": _set_flag_bits(stored, 6, 1, 2),
        "unknown-method.npz": _set_flag_bits(stored, 8, 99, 2),
        "cut-images-idx3-ubyte.gz": gz[: len(gz) // 2],
        "huge-images-idx3-ubyte": header + b"\0" * 100,
        "promises-20-holds-16-idx3-ubyte.gz": promising,
    }


@pytest.mark.parametrize("name", sorted(_hostile_arrays()))
def test_hostile_array_files_are_an_input_error_before_any_row(tmp_path, name):
    """Issue 11: each of these ended the batch with a traceback, or (the last) left 16 rows of a
    file reported as skipped. Now each is an InputError, by the constructor or the check that reads
    the whole file before any of it is scored."""
    path = tmp_path / name
    path.write_bytes(_hostile_arrays()[name])
    with pytest.raises(InputError) as raised:
        ArrayInput(Input(str(path), kind_of(name))).check(8)
    assert "\n" not in str(raised.value) and str(raised.value)


@pytest.mark.parametrize("order", ["C", "F"])
def test_an_array_file_that_shrinks_while_read_is_that_files_error(tmp_path, order):
    """Issue 26 (9): a ValueError traceback (C order), or SIGBUS through the memory map (Fortran
    order): exit 135, no message, the temporary file left. Now the file's own error."""
    path = tmp_path / "shrinking.npy"
    np.save(path, np.asarray(np.tile(font_digits()[:1], (1000, 1, 1)), order=order))
    array = ArrayInput(Input(str(path), "npy"))
    chunks = array.chunks(100)
    next(chunks)
    with open(path, "r+b") as fp:
        fp.truncate(path.stat().st_size // 2)
    with pytest.raises(InputError, match="the file shrank while being read"):
        list(chunks)


def _array_mutants(count_per_seed: int = 25) -> dict[str, bytes]:
    """A deterministic mutation fuzzer over the array formats: four digits as .npy, .npz (stored and
    deflated), IDX and gzipped IDX, then per mutant 1-8 random bytes overwritten (a third of them
    inside the first 128 bytes, where the headers are), or the file cut short."""
    rng = random.Random(7)
    images = font_digits()[:4]
    seeds = {"npy": io.BytesIO(), "npz": io.BytesIO(), "deflated.npz": io.BytesIO()}
    np.save(seeds["npy"], images)
    np.savez(seeds["npz"], x_test=images)
    np.savez_compressed(seeds["deflated.npz"], x_test=images)
    originals = {suffix: buffer.getvalue() for suffix, buffer in seeds.items()}
    originals["idx"] = idx_bytes(images)
    originals["idx.gz"] = gzip.compress(idx_bytes(images), mtime=0)
    mutants = {}
    for suffix, original in originals.items():
        for i in range(count_per_seed):
            data = bytearray(original)
            if i % 4 == 3:
                data = data[: rng.randrange(1, len(data))]
            else:
                for _ in range(rng.randint(1, 8)):
                    where = rng.randrange(min(128, len(data))) if i % 3 == 0 else rng.randrange(len(data))
                    data[where] = rng.randrange(256)
            name = (
                f"m{i:02d}-images-idx3-ubyte" + suffix.removeprefix("idx")
                if suffix.startswith("idx")
                else f"m{i:02d}.{suffix}"
            )
            mutants[name] = bytes(data)
    return mutants


@pytest.mark.heavy
def test_fuzzed_array_files_are_scored_whole_or_skipped_whole(exported, tmp_path):
    """Whatever a damaged array file holds, it is either scored in full (its rows #0..#n-1, each a
    probability distribution) or listed as skipped with none of its rows written; never a traceback."""
    _, model_path = exported
    folder, mutants = tmp_path / "fuzz", _array_mutants()
    predict_damaged_folder(model_path, folder, mutants, tmp_path / "out.csv")
    rows: dict[str, list[int]] = {}
    for row in read_rows(tmp_path / "out.csv"):
        source, index = row["source"].rsplit("#", 1)
        rows.setdefault(source, []).append(int(index))
        assert abs(sum(float(row[f"prob_{d}"]) for d in range(10)) - 1) < 1e-4
    failed = {row["source"] for row in read_rows(tmp_path / "out.errors.csv")}
    assert set(rows) | failed == {str(folder / name) for name in mutants} and not set(rows) & failed
    assert all(indices == list(range(len(indices))) for indices in rows.values())
    assert len(failed) > len(mutants) // 2  # the fuzzer does damage (a check on the generator itself)
