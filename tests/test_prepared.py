"""predict --save-prepared DIR: the 28x28 digit each image file was scored as, named after the file,
inside DIR whatever the file is called; DIR appears whole or not at all (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import font_photos, font_scans, predict, read_rows
from mnist_ann.predict.outputs.prepared import prepared_folder


@pytest.mark.heavy
def test_each_image_file_gets_the_digit_it_was_scored_as(exported, tmp_path):
    _, model = exported
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    scans = font_scans(3, seed=1) + font_photos(2, seed=2)
    for i, (_, picture) in enumerate(scans):
        picture.save(folder / ("sub" if i % 2 else "") / f"{i}.png")
    np.save(folder / "arrays.npy", np.zeros((4, 28, 28), np.uint8))  # arrays are MNIST's form already: not saved
    result = predict("--model", model, folder, "--output", tmp_path / "out.csv", "--save-prepared", tmp_path / "seen")
    assert result.returncode == 0, result.stderr
    rows = {row["source"]: row for row in read_rows(tmp_path / "out.csv")}
    saved = sorted(p.name for p in (tmp_path / "seen").iterdir())
    assert len(saved) == 5 and all(name.endswith(".png") for name in saved)
    assert [n for n in saved if n.endswith("sub_1.png.png")], saved  # the input's path, as one name
    # what the model saw: the saved digits, scored as an array (no preparation), give every row's
    # label and probabilities
    name_of = {source: "_".join(part for part in source.split("/") if part) + ".png" for source in rows}
    images = [source for source in rows if source.endswith(".png")]
    digits = np.stack([np.asarray(Image.open(tmp_path / "seen" / name_of[source])) for source in images])
    np.save(tmp_path / "seen.npy", digits)
    again = predict("--model", model, tmp_path / "seen.npy", "--output", tmp_path / "again.csv")
    assert again.returncode == 0, again.stderr
    for source, twin in zip(images, read_rows(tmp_path / "again.csv")):
        assert {k: twin[k] for k in twin if k.startswith(("label", "prob_"))} == {
            k: rows[source][k] for k in twin if k.startswith(("label", "prob_"))
        }, source
    for path in (tmp_path / "seen").iterdir():
        with Image.open(path) as image:
            assert image.size == (28, 28) and image.mode == "L"


HOSTILE = ["..png", "a b.png", "=HYPERLINK(1).png", "\x1b[31mred.png", "naïve.png", "-rf.png", ".hidden-ok.png"]


@pytest.mark.heavy
def test_hostile_names_stay_inside_the_folder_and_never_collide(exported, tmp_path):
    _, model = exported
    inputs = tmp_path / "in"
    for sub in ("a", "a_"):  # two folders whose files reduce to the same names
        (inputs / sub).mkdir(parents=True)
        for i, name in enumerate(HOSTILE[:-1]):
            font_scans(1, seed=i)[0][1].save(inputs / sub / name, format="PNG")
    before = set(tmp_path.rglob("*"))
    files = sorted(p for p in inputs.rglob("*") if p.is_file())
    result = predict("--model", model, *files, "--output", tmp_path / "out.csv", "--save-prepared", tmp_path / "seen")
    assert result.returncode == 0, result.stderr
    saved = list((tmp_path / "seen").iterdir())
    assert len(saved) == len(files) == 12 and len({p.name for p in saved}) == 12
    assert all(p.parent == tmp_path / "seen" and p.is_file() and not p.is_symlink() for p in saved)
    assert all(set(p.name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") for p in saved)
    created = set(tmp_path.rglob("*")) - before - set(saved)
    assert created == {tmp_path / "seen", tmp_path / "out.csv", tmp_path / "out.monitor.json"}, created  # nothing else


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["file", "full-folder"])
def test_a_dir_that_would_lose_files_is_one_line_and_nothing_is_written(exported, tmp_path, kind):
    _, model = exported
    font_scans(1, seed=0)[0][1].save(tmp_path / "3.png")
    target = tmp_path / "seen"
    if kind == "file":
        target.write_text("mine")
    else:
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    result = predict("--model", model, tmp_path / "3.png", "--output", tmp_path / "out.csv", "--save-prepared", target)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: --save-prepared {target}: ")
    assert not (tmp_path / "out.csv").exists()
    assert (target.read_text() if kind == "file" else (target / "keep.txt").read_text()) == "mine"


@pytest.mark.heavy
def test_an_empty_folder_is_filled_and_ray_is_refused_in_one_line(exported, tmp_path):
    _, model = exported
    font_scans(1, seed=0)[0][1].save(tmp_path / "3.png")
    (tmp_path / "seen").mkdir()
    result = predict(
        "--model", model, tmp_path / "3.png", "--output", tmp_path / "a.csv", "--save-prepared", tmp_path / "seen"
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "seen").iterdir()] == [
        f"{'_'.join(str(tmp_path / '3.png').split('/')[1:])}.png"
    ]
    ray = predict(
        "--model",
        model,
        tmp_path / "3.png",
        "--output",
        tmp_path / "b.csv",
        "--save-prepared",
        tmp_path / "s2",
        "--ray",
    )
    assert ray.returncode == 1 and ray.stderr.strip().splitlines()[-1].endswith("cannot be used with --ray")
    assert not (tmp_path / "s2").exists() and not (tmp_path / "b.csv").exists()


def test_a_run_that_fails_leaves_no_folder_and_no_staging(tmp_path):
    with pytest.raises(KeyboardInterrupt), prepared_folder(tmp_path / "seen") as prepared:
        prepared.save(["x.png"], np.zeros((1, 28, 28), np.uint8))
        raise KeyboardInterrupt  # Ctrl-C, SIGTERM: the same path
    assert list(tmp_path.iterdir()) == []
