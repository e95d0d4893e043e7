"""`mnist-ann predict` as users run it: a separate process, every input kind, every bad input, the
exit codes, and predictions equal to what Keras gives for the same pixels."""

from __future__ import annotations

import csv
import gzip
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import run_script, tiny_mnist
from mnist_ann.data import preprocess

DIGITS = tiny_mnist(test=40, seed=5)["x_test"]  # 40 random uint8 "digits"


def predict(*args, cwd=None):
    return run_script("-m", "mnist_ann.cli", "predict", *map(str, args), **({"cwd": cwd} if cwd else {}))


def read_rows(path):
    with open(path, newline="") as fp:
        return list(csv.DictReader(fp))


def assert_rows_match_keras(rows, keras_model, images):
    """Labels and the ten probabilities of `rows` are Keras's for `images` (uint8 28x28)."""
    expected = keras_model.predict(preprocess(np.asarray(images)), verbose=0)
    got = np.array([[float(row[f"prob_{d}"]) for d in range(10)] for row in rows])
    np.testing.assert_allclose(got, expected, atol=1.5e-6)  # six decimals in the file
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5  # a near tie may go either way within the tolerance
    labels = np.array([int(row["label"]) for row in rows])
    assert (labels[clear] == expected.argmax(axis=1)[clear]).all()
    confidence = np.array([float(row["confidence"]) for row in rows])
    np.testing.assert_allclose(confidence, expected.max(axis=1), atol=1.5e-6)


def idx_bytes(images: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", *images.shape) + images.tobytes()


@pytest.mark.parametrize("layout", ["npy-uint8-3d", "npy-float-flat", "npz-x", "npz-x_test", "idx", "idx-gz"])
def test_array_inputs(exported, tmp_path, layout):
    keras_model, model_path = exported
    images = DIGITS[:25]
    path = tmp_path / {"npy-uint8-3d": "a.npy", "npy-float-flat": "a.npy", "npz-x": "a.npz", "npz-x_test": "a.npz",
                       "idx": "t10k-images-idx3-ubyte", "idx-gz": "t10k-images-idx3-ubyte.gz"}[layout]
    if layout == "npy-uint8-3d":
        np.save(path, images)
    elif layout == "npy-float-flat":
        np.save(path, images.reshape(25, 784).astype(np.float32) / 255)
    elif layout == "npz-x":
        np.savez(path, x=images, y=np.zeros(25))
    elif layout == "npz-x_test":
        np.savez_compressed(path, x_train=DIGITS[25:], x_test=images)
    elif layout == "idx":
        path.write_bytes(idx_bytes(images))
    else:
        path.write_bytes(gzip.compress(idx_bytes(images)))
    result = predict("--model", model_path, path, "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [f"{path}#{i}" for i in range(25)]
    assert_rows_match_keras(rows, keras_model, images)
    assert not (tmp_path / "out.errors.csv").exists()


def test_array_larger_than_a_batch_is_scored_in_chunks(exported, tmp_path):
    keras_model, model_path = exported
    images = np.concatenate([DIGITS] * 3)  # 120 images, batches of 7, indices cross 10 and 100
    np.save(tmp_path / "big.npy", images)
    result = predict("--model", model_path, tmp_path / "big.npy", "--output", tmp_path / "out.csv", "--batch-size", 7)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    assert [row["source"] for row in rows] == [f"{tmp_path / 'big.npy'}#{i}" for i in range(120)]
    assert_rows_match_keras(rows, keras_model, images)


def _image_variants(folder):
    """The same digits saved in many formats and modes; all lossless ones give the same pixels."""
    saved = []
    for i, digit in enumerate(DIGITS[:12]):
        grey = Image.fromarray(digit, "L")
        variants = [
            ("png", grey), ("bmp", grey), ("tiff", grey), ("webp", grey),
            ("png", Image.merge("RGB", [grey] * 3)),
            ("png", Image.merge("RGBA", [grey] * 3 + [Image.new("L", grey.size, 255)])),
            ("png", grey.convert("P")),
            ("png", Image.fromarray(digit.astype(np.uint16) * 257)),  # 16-bit
        ]
        kind, image = variants[i % len(variants)]
        path = folder / ("nested" if i % 2 else "") / f"{i:02d}.{kind}"
        path.parent.mkdir(exist_ok=True)
        image.save(path, **({"lossless": True} if kind == "webp" else {}))
        saved.append((path, digit))
    return saved


def test_image_folders_in_any_mode(exported, tmp_path):
    keras_model, model_path = exported
    saved = _image_variants(tmp_path / "images")
    result = predict("--model", model_path, tmp_path / "images", "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = {row["source"]: row for row in read_rows(tmp_path / "out.csv")}
    assert set(rows) == {str(path) for path, _ in saved}
    assert_rows_match_keras([rows[str(path)] for path, _ in saved], keras_model, [digit for _, digit in saved])


def test_resize_invert_and_animation(exported, tmp_path):
    keras_model, model_path = exported
    digit = DIGITS[0]
    Image.fromarray(255 - digit).save(tmp_path / "scan.png")  # dark on light
    big = Image.fromarray(digit).resize((56, 56), Image.Resampling.NEAREST)
    big.save(tmp_path / "big.png")
    frames = [Image.fromarray(digit), Image.fromarray(DIGITS[1])]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    inverted = predict("--model", model_path, tmp_path / "scan.png", "--invert", "--output", tmp_path / "inv.csv")
    assert inverted.returncode == 0, inverted.stderr
    assert_rows_match_keras(read_rows(tmp_path / "inv.csv"), keras_model, [digit])
    plain = predict("--model", model_path, tmp_path / "big.png", tmp_path / "anim.gif", "--output", tmp_path / "p.csv")
    assert plain.returncode == 0, plain.stderr
    rows = read_rows(tmp_path / "p.csv")
    resized = np.asarray(big.resize((28, 28), Image.Resampling.LANCZOS))
    first_frame = np.asarray(Image.open(tmp_path / "anim.gif").convert("L"))
    assert_rows_match_keras(rows, keras_model, [resized, first_frame])


def test_jsonl_and_no_probabilities(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:3])
    jsonl = predict("--model", model_path, tmp_path / "a.npy", "--format", "jsonl", "--output", tmp_path / "out.jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == [f"{tmp_path / 'a.npy'}#{i}" for i in range(3)]
    assert all(len(r["probabilities"]) == 10 and r["label"] == int(np.argmax(r["probabilities"])) for r in records)
    short = predict("--model", model_path, tmp_path / "a.npy", "--no-probabilities", "--output", tmp_path / "s.csv")
    assert short.returncode == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "source,label,confidence"


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


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
    assert [row["source"] for row in rows] == [str(folder / "good.npy") + "#0", str(folder / "good.npy") + "#1", str(folder / "good.png")]
    assert_rows_match_keras(rows, keras_model, [DIGITS[2], DIGITS[3], DIGITS[1]])
    errors = {row["source"]: row["error"] for row in read_rows(tmp_path / "out.errors.csv")}
    expected = {str(folder / name): reason for name, (_, reason) in BAD_INPUTS.items()}
    expected[str(tmp_path / "absent.png")] = "no such file or folder"
    assert set(errors) == set(expected)
    for source, reason in expected.items():
        assert reason in errors[source], (source, errors[source])
        assert any(line.endswith(f"skipped {source}: {errors[source]}") for line in result.stderr.splitlines())


def test_stale_errors_file_is_removed(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:2])
    (tmp_path / "out.errors.csv").write_text("source,error\nold,stale\n")
    assert predict("--model", model_path, tmp_path / "a.npy", "--output", tmp_path / "out.csv").returncode == 0
    assert not (tmp_path / "out.errors.csv").exists()


def _onnx_with_input_width(path, width):
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((width, 10), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["pixels", "w"], ["probabilities"])], "g",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])], [weights])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


def _onnx_with_outside_data(path):
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((784, 10), np.float32), "w")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../outside.bin"), ("offset", "0"), ("length", str(784 * 40))):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    (path.parent.parent / "outside.bin").write_bytes(np.ones((784, 10), np.float32).tobytes())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["pixels", "w"], ["probabilities"])], "g",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])], [weights])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


@pytest.mark.parametrize("model_kind, message", [
    ("missing", "no such model file"),
    ("garbage", "not a usable ONNX model"),
    ("wrong-input", "model input must be one float tensor (batch, 784), found pixels tensor(float) ['batch', 100]"),
    ("outside-data", "External data path"),
])
def test_unusable_model_is_exit_1_and_writes_nothing(tmp_path, model_kind, message):
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "model.onnx"
    if model_kind == "garbage":
        model.write_bytes(b"\x08\x07garbage")
    elif model_kind == "wrong-input":
        _onnx_with_input_width(model, 100)
    elif model_kind == "outside-data":
        _onnx_with_outside_data(model)
    np.save(tmp_path / "a.npy", DIGITS[:2])
    (tmp_path / "out.csv").write_text("previous results\n")
    result = predict("--model", model, tmp_path / "a.npy", "--output", tmp_path / "out.csv")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {model}: ")
    assert message in result.stderr
    assert (tmp_path / "out.csv").read_text() == "previous results\n"


def test_unwritable_output_is_exit_1(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:2])
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = predict("--model", model_path, tmp_path / "a.npy", "--output", tmp_path / "blocker" / "out.csv")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"


def test_usage_error_is_exit_1(tmp_path):
    result = predict("--output", tmp_path / "x.csv", "in.npy")
    assert result.returncode == 1 and "--model" in result.stderr


def test_predict_never_imports_tensorflow(exported, tmp_path):
    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS[:2])
    Image.fromarray(DIGITS[0]).save(tmp_path / "a.png")
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['mnist-ann', 'predict', '--model', {str(model_path)!r}, {str(tmp_path / 'a.npy')!r}, "
        f"{str(tmp_path / 'a.png')!r}, '--output', {str(tmp_path / 'o.csv')!r}]\n"
        "try:\n    runpy.run_module('mnist_ann.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'mlflow', 'tf2onnx'))\n"
        "print('HEAVY', heavy)\n"
    )
    result = run_script("-c", code)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert len(read_rows(tmp_path / "o.csv")) == 3


def test_progress_bar_on_a_terminal(exported, tmp_path):
    """stderr on a terminal gets a progress bar counting images; the rows are the same."""
    import os
    import pty
    import subprocess
    import sys

    _, model_path = exported
    np.save(tmp_path / "a.npy", DIGITS)
    leader, follower = pty.openpty()
    result = subprocess.run([sys.executable, "-m", "mnist_ann.cli", "predict", "--model", str(model_path),
                             str(tmp_path / "a.npy"), "--output", str(tmp_path / "out.csv")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, timeout=60)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert result.returncode == 0, shown.decode(errors="replace")
    assert b"40.0img" in shown or b"40img" in shown
    assert len(read_rows(tmp_path / "out.csv")) == 40
