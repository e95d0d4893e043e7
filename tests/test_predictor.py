"""predictor.py: the Python API, `Predictor(model).predict(images)`: the command's answers for the same
files, every kind of input it promises, errors per image, and imports free of TensorFlow and mlflow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import font_crops, font_digits, font_scans, predict, read_rows
from mnist_ann import Prediction, Predictor
from mnist_ann.core.errors import ModelError
from mnist_ann.core.mnist import preprocess
from mnist_ann.predict.errors import InputError


@pytest.fixture(scope="module")
def predictor(exported):
    return Predictor(exported[1])


@pytest.mark.heavy
def test_its_answers_are_the_commands_for_the_same_200_files(exported, tmp_path):
    """docs/predict.md: the same preparation and numbers as `mnist-ann predict`."""
    images = [image for _, image in font_crops(100, seed=3) + font_scans(100, seed=4)]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i:03d}.{'png' if i % 3 else 'jpg'}"))
        image.save(paths[-1])
    blank = tmp_path / "blank.png"  # no digit: an error for both
    Image.new("L", (40, 40), 200).save(blank)
    paths.append(str(blank))
    result = predict("--model", exported[1], *paths, "--output", tmp_path / "out.csv")
    assert result.returncode == 2, result.stderr
    rows = {row["source"]: row for row in read_rows(tmp_path / "out.csv")}

    answers = Predictor(exported[1]).predict(paths)

    assert [a.source for a in answers] == paths and len(rows) == 200
    for answer in answers[:-1]:
        row = rows[answer.source]
        assert answer.error is None and answer.label == int(row["label"]) and answer.prepared == row["prepared"]
        assert [f"{p:.6f}" for p in answer.probabilities] == [row[f"prob_{d}"] for d in range(10)]
        assert f"{answer.confidence:.6f}" == row["confidence"]
    assert answers[-1].label is None and "no digit" in answers[-1].error
    errors = read_rows(tmp_path / "out.errors.csv")
    assert errors == [{"source": str(blank), "error": answers[-1].error}]


def test_arrays_are_scored_as_they_are_in_every_promised_shape(predictor, exported):
    digits = font_digits()[:5]
    expected = exported[0].predict(preprocess(digits), verbose=0)
    for given in (digits, digits.reshape(5, 784), digits / 255.0):
        answers = predictor.predict(given)
        assert [a.source for a in answers] == [f"[{i}]" for i in range(5)]
        assert {a.prepared for a in answers} == {"as-is"}
        np.testing.assert_allclose(np.stack([a.probabilities for a in answers]), expected, atol=1e-5)
    (one,) = predictor.predict(digits[0])
    assert one.source == "[0]" and one.label == int(expected[0].argmax())


def test_pil_images_paths_and_arrays_mix_in_one_call(predictor, tmp_path):
    digits = font_digits()[:3]
    Image.fromarray(digits[1]).save(tmp_path / "one.png")
    np.save(tmp_path / "two.npy", digits[:2])
    mixed = [Image.fromarray(digits[0]), str(tmp_path / "one.png"), digits[2], tmp_path / "two.npy"]

    answers = predictor.predict(mixed)

    sources = [a.source for a in answers]
    assert sources == [
        "[0]",
        str(tmp_path / "one.png"),
        "[2]",
        f"{tmp_path / 'two.npy'}#0",
        f"{tmp_path / 'two.npy'}#1",
    ]
    assert [a.prepared for a in answers] == ["mnist/dark", "mnist/dark", "as-is", "as-is", "as-is"]
    # A digit already in MNIST's form comes out of the preparation unchanged: the same answer as its array.
    np.testing.assert_allclose(answers[0].probabilities, predictor.predict(digits[0])[0].probabilities, atol=1e-6)
    assert all(a.error is None for a in answers)


def test_one_bad_input_gets_its_error_and_the_others_are_scored(predictor, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    os.symlink(tmp_path / "nowhere.png", tmp_path / "dangling.png")
    digit = font_digits()[0]
    given = [str(tmp_path / "broken.png"), Image.new("L", (30, 30), 0), digit, np.zeros(5), Image.new("L", (0, 0))]
    given += [tmp_path / "gone.png", tmp_path / "dangling.png"]
    answers = predictor.predict(given)
    assert answers[0].error == "not an image Pillow can read" and answers[0].label is None
    assert "no digit" in answers[1].error
    assert answers[2].error is None and answers[2].label is not None
    assert answers[3].error == "item 3 must have shape (28, 28), (N, 28, 28) or (N, 784), got (5,)"
    assert (answers[4].source, answers[4].error) == ("[4]", "empty image: 0x0 pixels")
    assert answers[5].error == "no such file or folder" and answers[6].error == "dangling symbolic link"
    assert len(answers) == len(given)


@pytest.mark.heavy
def test_a_fifo_is_named_not_read(exported, tmp_path):
    """Opened, a FIFO blocks the read forever: the call would hang (in a process here, with a bound)."""
    os.mkfifo(tmp_path / "fifo.png")
    code = f"from mnist_ann import Predictor\nprint(Predictor({str(exported[1])!r}).predict({str(tmp_path)!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "error='a FIFO, not a regular file'" in result.stdout, result.stderr[-1000:]


def test_a_folder_is_walked_as_the_command_walks_it(predictor, tmp_path):
    (tmp_path / "b").mkdir()
    Image.fromarray(font_digits()[1]).save(tmp_path / "b" / "one.png")
    np.save(tmp_path / "a.npy", font_digits()[:2])
    (tmp_path / ".hidden.png").write_bytes(b"skipped: hidden")
    answers = predictor.predict(tmp_path)
    expected = [f"{tmp_path / 'a.npy'}#0", f"{tmp_path / 'a.npy'}#1", str(tmp_path / "b" / "one.png")]
    assert [a.source for a in answers] == expected
    assert all(a.error is None for a in answers)


def test_bad_calls_are_one_line_errors(predictor, tmp_path):
    with pytest.raises(InputError, match=r"^the array: float pixels must be in \[0, 1\], got 0\.\.2$"):
        predictor.predict(np.linspace(0, 2, 2 * 784).reshape(2, 784))
    with pytest.raises(InputError, match="^cannot score a int: give image paths, PIL images or arrays$"):
        predictor.predict(3)
    with pytest.raises(ModelError, match="no such model file"):
        Predictor(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="frame must be one of mnist, none"):
        Predictor(tmp_path / "missing.onnx", frame="square")


@pytest.mark.heavy
def test_preparation_options_are_the_commands(exported, tmp_path):
    _, crop = font_crops(1, seed=1)[0]
    crop.save(tmp_path / "crop.png")
    result = predict("--model", exported[1], tmp_path / "crop.png", "--frame", "none", "--output", tmp_path / "o.csv")
    (row,) = read_rows(tmp_path / "o.csv")
    (answer,) = Predictor(exported[1], frame="none", background="dark").predict(tmp_path / "crop.png")
    assert result.returncode == 0 and answer.prepared == row["prepared"] == "none/dark"
    assert f"{answer.confidence:.6f}" == row["confidence"]
    assert isinstance(answer, Prediction)


@pytest.mark.heavy
def test_importing_it_imports_neither_tensorflow_nor_mlflow(exported):
    code = (
        "import sys\nfrom mnist_ann import Predictor\n"
        f"Predictor({str(exported[1])!r}).predict(__import__('numpy').zeros((1, 784)))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'mlflow', 'ray'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_list_gets_one_prediction_per_item_and_nothing_is_dropped(predictor):
    """Issue 37 (1): a (5, 28, 28) batch inside a list was answered by one Prediction (four images
    dropped without a word), an empty (0, 28, 28) item by none, so answers no longer lined up with
    the items. Each is now that item's error; a NaN image is its own item's error, the rest scored."""
    digits = font_digits()[:5]
    with_nan = digits[0] / 255.0
    with_nan[3, 3] = np.nan
    given = [digits[0], digits, digits[:0], with_nan, digits[1]]
    answers = predictor.predict(given)
    assert [a.source for a in answers] == ["[0]", "[1]", "[2]", "[3]", "[4]"]
    assert answers[1].error.startswith("item 1 holds 5 images, where a list takes one image per item")
    assert answers[2].error.startswith("item 2 holds 0 images")
    assert answers[3].error == "item 3: float pixels must be finite, found NaN or inf"
    expected = predictor.predict(digits)
    assert [a.label for a in (answers[0], answers[4])] == [expected[0].label, expected[1].label]
    assert [a.label for a in answers[1:4]] == [None, None, None]


def test_a_bool_array_is_a_mask_of_the_ink(predictor):
    """Issue 37 (1): a bool digit was read as the integers 0 and 1 of 255, all but blank (every
    digit a "5" at about 0.3). True is full ink: the same answer as the digit drawn at 0 and 255."""
    mask = font_digits()[:5] > 127
    as_bytes = mask.astype(np.uint8) * 255
    for by_mask, by_bytes in zip(predictor.predict(mask), predictor.predict(as_bytes)):
        np.testing.assert_array_equal(by_mask.probabilities, by_bytes.probabilities)
    assert preprocess(mask).max() == 1.0 and preprocess(mask).dtype == np.float32


@pytest.fixture(scope="module")
def watched_model(exported, tmp_path_factory):
    """The `exported` network with a monitoring reference in its file, as export puts one."""
    import onnx

    from helpers import DenseNetwork
    from mnist_ann.core.monitoring import METADATA_KEY
    from mnist_ann.training.evaluation.watch_reference import build_reference

    rng = np.random.default_rng(0)
    noisy = lambda n: np.clip(preprocess(font_digits()).repeat(n, axis=0) + rng.normal(0, 0.05, (40 * n, 784)), 0, 1)
    test = noisy(10).astype(np.float32), rng.integers(0, 10, 400)  # all different: no ties in the quantiles
    reference = build_reference(DenseNetwork().predict, test, noisy(3).astype(np.float32))
    proto = onnx.load(str(exported[1]))
    onnx.helper.set_model_props(proto, {METADATA_KEY: reference.to_json()})
    path = tmp_path_factory.mktemp("watched") / "model.onnx"
    onnx.save(proto, str(path))
    return path


def test_its_summary_of_a_list_of_predictions_is_the_watch_over_their_images(watched_model, tmp_path):
    """Issue 39: Predictor.summary gives what `predict` writes beside its output, for the
    predictions given: the failed ones left out, a subset summarised as itself. (Up to rounding:
    BLAS rounds a product differently for one image and for a batch, about 1e-5 of a residual.)"""
    from mnist_ann.core.monitoring import Watch
    from mnist_ann.core.onnx_model import OnnxModel

    predictor = Predictor(watched_model)
    digits = font_digits()
    Image.fromarray(digits[0]).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    predictions = predictor.predict([*digits, tmp_path / "bad.png"])
    assert predictions[-1].error is not None and all(p.residual is not None for p in predictions[:-1])
    model = OnnxModel(watched_model)
    watch = Watch(predictor.watching.reference)
    watch.observe(preprocess(digits), model.predict(preprocess(digits)))
    summary, expected = predictor.summary(predictions), watch.summary(predictor.named)
    assert summary["images"] == 40 and summary["drift"]["alarm"] == expected["drift"]["alarm"]
    for name in ("confidence", "residual"):
        assert summary["drift"]["by_signal"][name] == pytest.approx(expected["drift"]["by_signal"][name], abs=2e-3)
    assert {k: v for k, v in summary.items() if k != "drift"} == {k: v for k, v in expected.items() if k != "drift"}
    half = Watch(predictor.watching.reference)
    half.observe(preprocess(digits[:20]), model.predict(preprocess(digits[:20])))
    assert predictor.summary(predictions[:20])["predicted_counts"] == half.summary(predictor.named)["predicted_counts"]
    assert predictor.summary(predictions[:20])["images"] == 20


def test_a_model_without_a_reference_summarises_that_it_cannot(predictor):
    summary = predictor.summary(predictor.predict(font_digits()[:5]))
    assert summary["monitored"] is False and summary["images"] == 5 and "no monitoring reference" in summary["why"]


@pytest.mark.heavy
def test_numbers_are_read_alike_by_the_predictor_and_the_command(exported, tmp_path):
    """Issue 41 (2): `Predictor(digits="many")` and `predict --digits many` give the same numbers, a
    digit each for an array's rows; --save-prepared writes one image per digit, numbered left to
    right, each the digit the model scored; the model's answer for each is the row's."""
    from helpers import font_number
    from mnist_ann import NumberPrediction

    texts = ("2024", "7", "31", "658413")
    paths = []
    for text in texts:
        paths.append(str(tmp_path / f"n{text}.png"))
        Image.fromarray(font_number(text, 2)).save(paths[-1])
    result = predict("--model", exported[1], *paths, "--digits", "many", "--output", tmp_path / "out.csv",
                     "--save-prepared", tmp_path / "seen", "--min-confidence", "0.5")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "out.csv")
    answers = Predictor(exported[1], digits="many").predict(paths)
    assert all(isinstance(answer, NumberPrediction) for answer in answers)
    assert [row["digits"] for row in rows] == [str(len(text)) for text in texts]
    for text, row, answer in zip(texts, rows, answers):
        assert answer.label == row["label"] and len(answer.digits) == len(text) == answer.probabilities.shape[0]
        assert row["digit_labels"] == " ".join(map(str, answer.digits))
        assert f"{answer.confidence:.6f}" == row["confidence"] == min(row["digit_confidences"].split())
        assert row["uncertain"] == str(int(answer.confidence < 0.5))

        names = sorted(p.name for p in (tmp_path / "seen").glob(f"*n{text}.png.*.png"))
        assert len(names) == len(text), names
        seen = np.stack([np.asarray(Image.open(tmp_path / "seen" / name)) for name in names])
        model = exported[0]
        assert model.predict(preprocess(seen)).argmax(axis=1).tolist() == answer.digits
    single = Predictor(exported[1]).predict(paths[:1])[0]  # the default: one digit per picture
    assert isinstance(single, Prediction) and single.prepared.endswith("-marks")  # (2 px apart: some grouped)
    refused = predict("--model", exported[1], *paths, "--digits", "many", "--frame", "none", "--output", "-")
    assert refused.returncode == 1 and "--digits many" in refused.stderr and "--frame none" in refused.stderr
