"""`make robust`: the named experiment for people's digits, run as the Makefile runs it, registers a
version that reads photographed digits (issue 24's done-test), and the docs show that command."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from test_docs_figures import as_shown

from drawn_digits import drawn_digits
from helpers import REPO, copy_of_this_repo, dvc, font_photos, mnist_numbers, mnist_photos, read_rows, run_script
from mnist_ann.training.data import load_split
from mnist_ann.training.evaluation.robustness import as_digits


def robust_command() -> list[str]:
    """`make robust`'s dvc command, read from the Makefile (its continuation lines joined)."""
    makefile = (REPO / "Makefile").read_text().replace("\\\n", " ")
    params = re.search(r"^ROBUST_PARAMS = (.*)$", makefile, re.M).group(1)
    recipe = re.search(r"^robust: setup\n(?:\t@echo .*\n)*\t\$\(BIN\)/(dvc .*)$", makefile, re.M).group(1)
    return shlex.split(recipe.replace("$(ROBUST_PARAMS)", params))


def robust_column(page: str, figures: dict) -> dict[str, str]:
    """The `make robust` column of docs/predict.md's table of sets, by variant: each row naming
    variants in backticks, its last cell's bold figures in the same order ("**0.983 / 0.990**")."""
    quoted = {}
    for line in page.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 3 or not cells[2].startswith("**"):
            continue
        variants = [name for name in re.findall(r"`([^`]+)`", cells[0]) if name in figures]
        shown = cells[2].strip("*").split(" / ")
        if variants and len(variants) == len(shown):
            quoted.update(zip(variants, shown))
    return quoted


def assert_the_docs_quote(figures: dict, test_accuracy: float) -> None:
    """docs/predict.md's `make robust` column holds `figures` and `test_accuracy`, as rounded there."""
    page = REPO / "docs" / "predict.md"
    quoted = robust_column(page.read_text(), figures)
    assert set(quoted) >= set(figures) - {"mean"}, quoted
    for variant, shown in quoted.items():
        assert as_shown(figures[variant], shown) == shown, (variant, shown, figures[variant])
    shown = quoted_test_accuracy(page)
    assert as_shown(test_accuracy, shown) == shown, (shown, test_accuracy)


def quoted_test_accuracy(page: Path) -> str:
    """The `make robust` figure of the table's "MNIST's test set" row."""
    row = next(line for line in page.read_text().splitlines() if line.startswith("| MNIST's test set |"))
    return row.rstrip(" |").rsplit("|", 1)[1].strip(" *")


def test_the_docs_show_the_command_make_robust_runs():
    command = robust_command()
    assert command[:5] == ["dvc", "exp", "run", "--temp", "-n"] and command[5] == "robust"
    settings = [command[i + 1] for i, word in enumerate(command) if word == "-S"]
    assert {s.split("=")[0] for s in settings} >= {"train.hidden_units", "train.epochs", "train.augment.rotation"}
    docs = (REPO / "docs" / "predict.md").read_text()
    for setting in settings:
        assert setting in docs, setting


def predict_folder(folder, pictures: list, repo, output, *options: str, model="models:/mnist-ann@champion"):
    """`pictures` saved in `folder` (odd ones as JPEG), scored with `model` (by default the champion,
    robust's version 2), with predict's `options` too: the rows, in the pictures' order."""
    if not folder.exists():
        folder.mkdir()
        for i, picture in enumerate(pictures):
            picture.save(folder / (f"{i:03d}.jpg" if i % 2 else f"{i:03d}.png"), **({"quality": 85} if i % 2 else {}))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    done = run_script("-m", "mnist_ann.cli", "predict", folder, "--model", model,
                      "--output", output, *options, cwd=folder.parent, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert not output.with_name(output.name + ".errors.csv").exists()  # none refused
    return sorted(read_rows(output), key=lambda row: row["source"])


def assert_the_reading_figures(repo: Path, tmp_path: Path, truth: tuple, robust_right: tuple[int, int]) -> None:
    """The photographed handwriting and font digits (saved under tmp_path by the caller) are
    docs/predict.md's, measured by tools/reading_figures.py into docs/figures/reading.json: this
    run's models read them as that file says, robust (`robust_right`, of 200 each) and version 1, the
    pipeline's default recipe (issue 42)."""
    reading = json.loads((REPO / "docs" / "figures" / "reading.json").read_text())
    names = ("mnist_photos", "font_photos")
    assert tuple(right / 200 for right in robust_right) == tuple(reading["robust"][name] for name in names)
    default = []
    for folder, digits in zip(("handwriting", "fonts"), truth):
        rows = predict_folder(tmp_path / folder, [], repo, tmp_path / f"{folder}-1.csv", model="models:/mnist-ann/1")
        default.append(sum(int(row["label"]) == digit for row, digit in zip(rows, digits)) / 200)
    assert tuple(default) == tuple(reading["default"][name] for name in names), default


def assert_report_is_the_runs(report: str, default, robust) -> None:
    """`mnist-ann compare`'s report of the default version (A) against robust (B): the figures its
    two runs logged, the gate's decision, and the params robust changed."""
    from test_report import rows_of

    a, b = default.data.metrics, robust.data.metrics
    test = rows_of(report, "Test set, image by image")
    assert test["test accuracy"][:2] == [f"{a['onnx_test_accuracy']:.4f}", f"{b['onnx_test_accuracy']:.4f}"]
    assert test["test accuracy"][4].startswith("**better**; McNemar p=")
    # the loss from ONNX's probabilities, Keras' within the parity gate's 1e-5: equal to the 4 places shown, +-1
    assert all(abs(float(shown) - run["test_loss"]) <= 1.5e-4 for shown, run in zip(test["test loss"], (a, b)))
    digits = rows_of(report, "Each digit (recall)")
    assert all(
        digits[f"recall of {d}"][:2] == [f"{a[f'recall_{d}']:.4f}", f"{b[f'recall_{d}']:.4f}"] for d in range(10)
    )
    for name, row in rows_of(report, "Robustness variants").items():
        key = "robust_mean" if name == "mean of the variants" else f"robust_{name}"
        assert row[:2] == [f"{a[key]:.4f}", f"{b[key]:.4f}"], name
    assert rows_of(report, "Params that differ")["`train.epochs`"] == ["5", "30"]
    # the gate's figures; its verdict also weighs a timing (max_slowdown), which a loaded machine sways
    decision = next(line for line in report.splitlines() if line.startswith("Were B the candidate and A the champion"))
    assert f"test accuracy {b['onnx_test_accuracy']:.4f} vs {a['onnx_test_accuracy']:.4f} (A)" in decision, decision
    assert "**promoted**" in decision or "more than 3x slower" in decision, decision


@pytest.fixture(scope="module")
def seed_repo(tmp_path_factory, mnist_cache) -> Path:
    """A fresh copy after `dvc repro` with the default params: the seed's recipe on all of MNIST,
    registered as version 1 (the champion)."""
    repo = copy_of_this_repo(tmp_path_factory.mktemp("seed") / "repo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
        default = dvc(repo, "repro", timeout=600)
    assert default.returncode == 0, default.stdout[-3000:] + default.stderr[-3000:]
    return repo


def monitored(repo: Path, inputs: Path, output: Path) -> dict:
    """`mnist-ann predict` with the workspace's model; its .monitor.json."""
    done = run_script("-m", "mnist_ann.cli", "predict", inputs, "--output", output, cwd=repo, timeout=300)
    assert done.returncode in (0, 2), done.stderr[-2000:]
    return json.loads(output.with_name(output.stem + ".monitor.json").read_text())


def saved(folder: Path, pictures: list) -> Path:
    folder.mkdir()
    for i, picture in enumerate(pictures):
        picture.save(folder / f"{i:04d}.png")
    return folder


@pytest.mark.slow
def test_batches_from_mnist_raise_no_alarm_and_batches_from_elsewhere_do(seed_repo, tmp_path):
    """Issue 39: the seed's model on all of MNIST. The held-out half of the test set (the odd-numbered
    images, which the reference did not see), as PNG files and as an array: no alarm, the estimate
    within 3 points of the truth. Printed digits photographed, handwriting photographed, handwriting
    drawn in other hands (read right by the model 0.96 of the time: the confidence tells it apart),
    digits turned a quarter, letters, and noise: each an alarm."""
    from PIL import Image

    x_test, y_test = load_split(seed_repo / "data" / "processed", "test")
    digits = as_digits(x_test)
    held_out, truth = digits[1::2], y_test[1::2]
    pngs = saved(tmp_path / "mnist", [Image.fromarray(d) for d in held_out[:600]])
    summary = monitored(seed_repo, pngs, tmp_path / "mnist.csv")
    right = np.mean([int(r["label"]) == truth[int(r["source"][-8:-4])] for r in read_rows(tmp_path / "mnist.csv")])
    assert not summary["drift"]["alarm"] and abs(summary["estimated_accuracy"] - right) <= 0.03, (summary, right)
    np.save(tmp_path / "held_out.npy", held_out)
    summary = monitored(seed_repo, tmp_path / "held_out.npy", tmp_path / "arrays.csv")
    right = np.mean([int(r["label"]) == t for r, t in zip(read_rows(tmp_path / "arrays.csv"), truth)])
    assert not summary["drift"]["alarm"] and abs(summary["estimated_accuracy"] - right) <= 0.03, (summary, right)

    rng = np.random.default_rng(39)
    families = {
        "fonts": saved(tmp_path / "fonts", [photo for _, photo in font_photos(300, seed=39)]),
        "handwriting photographed": saved(tmp_path / "photos", mnist_photos(held_out, 1000, seed=39)),
        "handwriting no MNIST writer produced": saved(tmp_path / "drawn", [p for _, p in drawn_digits(1000, seed=39)]),
        "turned": saved(tmp_path / "turned", [Image.fromarray(np.rot90(d).copy()) for d in held_out[:300]]),
        "letters": saved(tmp_path / "letters", letters(300)),
    }
    np.save(tmp_path / "noise.npy", rng.integers(0, 256, (300, 28, 28), dtype=np.uint8))
    families["noise"] = tmp_path / "noise.npy"
    for name, inputs in families.items():
        summary = monitored(seed_repo, inputs, tmp_path / f"{name}.csv")
        assert summary["drift"]["alarm"] and summary["estimate_reliable"] is False, (name, summary["drift"])


def letters(count: int) -> list:
    """Capital and small letters (not those shaped as digits: no O, I, l, S, Z, B, g) in matplotlib's
    fonts, dark on white, as a scanner sees them."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    from mnist_ann.training.evaluation.rendered import FONTS

    shapes, pictures, fonts = (
        "ACDEFGHJKLMNPQRTUVWXYadefhkmnqrtuwy",
        [],
        Path(matplotlib.get_data_path()) / "fonts" / "ttf",
    )
    for i in range(count):
        face = ImageFont.truetype(str(fonts / FONTS[i % len(FONTS)]), 40 + i % 3 * 8)
        picture = Image.new("L", (72, 72), 255)
        ImageDraw.Draw(picture).text((12, 4), shapes[i % len(shapes)], font=face, fill=0)
        pictures.append(picture)
    return pictures


@pytest.mark.slow
def test_make_robust_registers_a_model_that_reads_photographed_digits(seed_repo, tmp_path, mnist_cache, monkeypatch):
    """A fresh copy, `make robust`'s command: the experiment's robustness figures are recorded, its
    model is registered, and with it `predict` reads photographed digits (grey paper, light uneven
    by up to 120 grey levels, noise sigma 6, half JPEG), none refused: 200 of MNIST's handwritten
    test digits written large, at least 95% right (measured: 0.990); 200 font digits, at least 85%
    (measured: 0.890; the misses are printed 6s, whose hooked top MNIST's writers did not draw,
    and small digits whose 4-pixel pen filled their loops)."""
    repo = seed_repo  # version 1: the seed's recipe, which robust's card compares with
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
    result = dvc(repo, *robust_command()[1:], timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    shown = json.loads(dvc(repo, "exp", "show", "--json").stdout)
    robust = [e for entry in shown for e in entry.get("experiments") or [] if e.get("name") == "robust"]
    assert robust, shown
    figures = robust[0]["revs"][0]["data"]["metrics"]["metrics/robustness.json"]["data"]
    assert set(figures) >= {"shift_3px", "rotate_20deg", "thin", "photo_gradient", "rendered", "mean"}
    # issue 24's targets (measured here: MNIST 0.9908, rendered 0.970, weakest variant thin 0.952)
    evaluated = robust[0]["revs"][0]["data"]["metrics"]["metrics/evaluate.json"]["data"]
    assert evaluated["test_accuracy"] >= 0.988, evaluated["test_accuracy"]
    assert figures["rendered"] >= 0.95, figures
    lined = ("photo_ruled", "photo_squared")
    assert min(v for name, v in figures.items() if name not in ("rendered", "mean", *lined)) >= 0.93, figures
    # issue 41: the same digits on ruled and squared paper read within 3 points of plain paper
    # (measured here: ruled 0.980, squared 0.963; plain photos 0.986)
    assert figures["photo_ruled"] >= figures["photo_gradient"] - 0.03, figures
    assert figures["photo_squared"] >= figures["photo_gradient"] - 0.03, figures
    # the robust column of docs/predict.md's "Which model" table is this run's figures (issue 42)
    assert_the_docs_quote(figures, evaluated["test_accuracy"])
    # issue 25: the robust version's card compares it with the default one and shows the gain
    done = run_script(
        "-m", "mnist_ann.cli", "card", "models:/mnist-ann/2", "--output", tmp_path / "robust.md", cwd=repo
    )
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "robust.md").read_text()
    assert "Against mnist-ann version 1: " in card and "`train.epochs` 5 → 30" in card
    for variant in ("shift_3px", "thin", "rendered", "mean"):
        row = next(line for line in card.splitlines() if line.startswith(f"| robustness: {variant} |"))
        assert row.endswith("(better) |") and f"| {figures[variant]:.4f} |" in row, row
    # issue 38: the default run made the first champion; robust, better on every figure and about
    # 2.3x slower per image (within the default 3x), replaced it through the promotion gate
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    assert client.get_model_version("mnist-ann", "1").tags["promotion"].startswith("promoted: the first champion")
    promotion = client.get_model_version("mnist-ann", "2").tags["promotion"]
    assert promotion.startswith("promoted: test accuracy") and "(version 1)" in promotion, promotion
    assert client.get_registered_model("mnist-ann").aliases == {"champion": 2}
    # issue 38: the comparison report of the two, for a review; its figures are the runs'
    done = run_script("-m", "mnist_ann.cli", "compare", "models:/mnist-ann/1", "models:/mnist-ann@champion",
                      "--output", tmp_path / "r.md", cwd=repo, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_report_is_the_runs(
        (tmp_path / "r.md").read_text(),
        *(client.get_run(client.get_model_version("mnist-ann", v).run_id) for v in "12"),
    )
    assert dvc(repo, "exp", "apply", "robust").returncode == 0  # its data/processed, for the test digits
    x_test, y_test = load_split(repo / "data" / "processed", "test")

    rows = predict_folder(tmp_path / "handwriting", mnist_photos(as_digits(x_test), 200, seed=24), repo,
                          tmp_path / "handwriting.csv")  # fmt: skip
    right = sum(int(row["label"]) == y_test[i] for i, row in enumerate(rows))
    assert right >= 190, f"{right} of 200 handwritten digits right"
    fonts = font_photos(200, seed=24)
    rows = predict_folder(tmp_path / "fonts", [photo for _, photo in fonts], repo, tmp_path / "fonts.csv")
    right_fonts = sum(int(row["label"]) == digit for row, (digit, _) in zip(rows, fonts))
    assert right_fonts >= 170, f"{right_fonts} of 200 font digits right"
    assert_the_reading_figures(repo, tmp_path, (y_test[:200], [digit for digit, _ in fonts]), (right, right_fonts))
    # issue 41 (2): numbers of 2-4 handwritten test digits, photographed, read whole by --digits many
    # (measured with this recipe's model: 187 of 200, 0.935; on 500 others 0.938)
    numbers = mnist_numbers(as_digits(x_test), y_test, 200, seed=41)
    rows = predict_folder(tmp_path / "numbers", [photo for _, photo in numbers], repo, tmp_path / "numbers.csv",
                          "--digits", "many")  # fmt: skip
    right = sum(row["label"] == text for row, (text, _) in zip(rows, numbers))
    assert right >= 185, f"{right} of 200 numbers read exactly"
    done = run_script("-m", "mnist_ann.cli", "predict", REPO / "docs" / "images" / "number.png", "--digits", "many",
                      "--model", "models:/mnist-ann@champion", "--output", "-", cwd=repo,
                      env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"})  # fmt: skip
    assert done.returncode == 0 and ",2024," in done.stdout and ",4,2 0 2 4," in done.stdout, (
        done.stderr
    )  # the docs' row
