"""predict/outputs/replaceable.py: one check, one wording, for every kind of destination: whatever
would be replaced wrongly (an input, the model, a link, a folder, someone's file) is refused before
any work, in one line that ends `refusing to replace it`, and nothing on disk changes."""

from __future__ import annotations

import os

import pytest

from mnist_ann.core.errors import OutputError
from mnist_ann.core.files import REFUSING
from mnist_ann.predict.outputs.replaceable import check_file, check_folder, check_object, check_prefix

END = f"; {REFUSING}"  # how every refusal ends


def refused(check, *args) -> str:
    with pytest.raises(OutputError) as caught:
        check(*args)
    message = str(caught.value)
    assert "\n" not in message and (message.endswith(REFUSING) or f"{REFUSING}: " in message), message
    return message


def test_a_file_output_is_new_or_a_regular_file_that_is_neither_an_input_nor_the_model(tmp_path):
    for name in ("x.npy", "model.onnx", "kept.csv", "old.csv"):
        (tmp_path / name).write_bytes(b"data")
    (tmp_path / "link.csv").symlink_to(tmp_path / "kept.csv")
    (tmp_path / "dir.csv").mkdir()
    inputs, model = [str(tmp_path / "x.npy")], tmp_path / "model.onnx"
    assert (
        refused(check_file, tmp_path / "x.npy", inputs, model)
        == f"{tmp_path / 'x.npy'}: is an input ({inputs[0]}){END}"
    )
    assert refused(check_file, model, inputs, model) == f"{model}: is the model {model}{END}"
    assert "is a symbolic link (to " in refused(check_file, tmp_path / "link.csv", inputs, model)
    assert "exists and is not a regular file" in refused(check_file, tmp_path / "dir.csv", inputs, model)
    # the errors file beside the output is checked as the output is: x.errors.csv is an input here
    (tmp_path / "p.errors.csv").write_bytes(b"data")
    assert refused(check_file, tmp_path / "p.csv", [str(tmp_path / "p.errors.csv")], model).startswith(
        f"{tmp_path / 'p.errors.csv'}: is an input"
    )
    check_file(tmp_path / "old.csv", inputs, model)  # a former output is replaced: no error
    check_file(tmp_path / "new.csv", inputs, model)
    assert (tmp_path / "kept.csv").read_bytes() == b"data" and (tmp_path / "link.csv").is_symlink()


def test_an_object_output_is_neither_an_input_nor_the_model():
    inputs = ["s3://b/in/a.npy", "s3://b/out/p.errors.csv"]
    assert (
        refused(check_object, "s3://b/in/a.npy", inputs, "model.onnx") == f"s3://b/in/a.npy: is one of the inputs{END}"
    )
    assert refused(check_object, "s3://b/out/p.csv", inputs, "model.onnx").startswith("s3://b/out/p.errors.csv: is one")
    assert refused(check_object, "s3://b/m.onnx", inputs, "s3://b/m.onnx") == f"s3://b/m.onnx: is the model{END}"
    check_object("s3://b/out/q.csv", inputs, "model.onnx")


def test_a_shard_folder_holds_only_what_predict_wrote_and_no_input(tmp_path):
    mine, theirs, link = tmp_path / "mine", tmp_path / "theirs", tmp_path / "link"
    mine.mkdir()
    (mine / "part-00000.csv").write_text("rows")
    (mine / "_SUCCESS").write_text("{}")
    theirs.mkdir()
    (theirs / "holiday.jpg").write_bytes(b"jpeg")
    link.symlink_to(mine)
    assert refused(check_folder, theirs, []) == f"{theirs}: holds 'holiday.jpg', which predict did not write{END}"
    assert refused(check_folder, mine, [str(mine / "part-00000.csv")]).startswith(f"{mine}: holds the input")
    assert "exists and is not a folder" in refused(check_folder, link, [])
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    assert "exists and is not a folder" in refused(check_folder, dangling, [])
    check_folder(mine, [])
    check_folder(tmp_path / "new", [])
    assert sorted(os.listdir(mine)) == ["_SUCCESS", "part-00000.csv"] and (theirs / "holiday.jpg").exists()


def test_a_shard_prefix_holds_only_what_predict_wrote_and_no_input():
    prefix = "s3://b/out/"
    former = [f"{prefix}part-00000.parquet", f"{prefix}errors.csv", f"{prefix}_SUCCESS"]
    check_prefix(prefix, former, ["s3://b/in/a.npy"])
    assert refused(check_prefix, prefix, [*former, f"{prefix}notes.txt"], []).startswith(
        f"{prefix}: holds {prefix}notes.txt, which predict did not write"
    )
    assert refused(check_prefix, prefix, former, [f"{prefix}a.npy"]) == f"{prefix}: holds the input {prefix}a.npy{END}"
