"""destinations.py, and `mnist-ann predict` on one machine with objects in and out, against a real
S3-compatible server: the rows and errors of the same files read locally, byte for byte; a stale
errors object removed; outputs that cannot be written refused before any work, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import font_digits, predict, upload_folder, write_bad_inputs
from mnist_ann.core.errors import OutputError
from mnist_ann.predict.errors import ObjectStoreError
from mnist_ann.predict.outputs.destinations import check_destination, object_errors_uri


def digits_folder(folder: Path, images: int = 12) -> Path:
    """PNGs, a uint8 .npy, a float .npy and every kind of bad input, in `folder`."""
    (folder / "pictures").mkdir(parents=True)
    for i in range(images):
        Image.fromarray(font_digits()[i % len(font_digits())]).save(folder / "pictures" / f"{i:03d}.png")
    write_bad_inputs(folder / "pictures")
    np.save(folder / "u8.npy", np.concatenate([font_digits()] * 2))
    np.save(folder / "floats.npy", font_digits()[:7] / 255.0)
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_objects_in_and_out_give_the_rows_and_errors_of_the_same_files_read_locally(exported, tmp_path, s3, fmt):
    _, model = exported
    local = digits_folder(tmp_path / "batch1")
    upload_folder(s3, local, "s3://digits-in/batch1/")
    alone = predict("--model", model, local, "--output", tmp_path / f"one.{fmt}")
    remote = predict("--model", model, "s3://digits-in/batch1/", "--output", f"s3://preds-out/p.{fmt}")
    assert remote.returncode == alone.returncode == 2, remote.stderr
    assert "Traceback" not in remote.stderr
    as_local = {b"s3://digits-in/batch1": str(local).encode()}
    for name, got in ((f"p.{fmt}", f"one.{fmt}"), ("p.errors.csv", "one.errors.csv")):
        rows = s3.get(f"s3://preds-out/{name}")
        if fmt == "csv" or name.endswith(".csv"):
            rows = rows.replace(*next(iter(as_local.items())))
            assert rows == (tmp_path / got).read_bytes()
        else:
            _assert_same_parquet(rows, tmp_path / got, *next(iter(as_local.items())))
    assert s3.keys("s3://preds-out/") == sorted([f"p.{fmt}", "p.errors.csv", "p.monitor.json"])
    remote_summary = json.loads(s3.get("s3://preds-out/p.monitor.json"))
    assert remote_summary == json.loads((tmp_path / "one.monitor.json").read_text()) and remote_summary["images"] > 0


def _assert_same_parquet(data: bytes, path: Path, remote: bytes, local: bytes) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table, expected = pq.read_table(pa.BufferReader(data)), pq.read_table(path)
    assert table.schema == expected.schema
    sources = pc.replace_substring(table["source"], remote.decode(), local.decode())
    assert table.set_column(0, "source", sources).equals(expected)


def test_a_stale_errors_object_is_removed_when_nothing_failed(exported, s3):
    _, model = exported
    s3.put("s3://digits-in/a.png", _png(font_digits()[3]))
    s3.put("s3://preds-out/p.errors.csv", b"source,reason\nold,gone\n")
    result = predict("--model", model, "s3://digits-in/a.png", "--output", "s3://preds-out/p.csv")
    assert result.returncode == 0, result.stderr
    assert s3.keys("s3://preds-out/") == ["p.csv", "p.monitor.json"]  # the summary beside: always there
    assert s3.get("s3://preds-out/p.csv").splitlines()[1].startswith(b"s3://digits-in/a.png,")


def _png(pixels: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("output", "error", "message"),
    [
        ("s3://preds-out/folder/", OutputError, "a prefix (ending in /) takes shards, which --ray writes"),
        ("s3://nobucket/p.csv", ObjectStoreError, "s3://nobucket: no such bucket"),
        ("s3://digits-in/a.npy", OutputError, "s3://digits-in/a.npy: is one of the inputs; refusing to replace it"),
        ("s3://digits-in/a.csv", OutputError, "s3://digits-in/a.errors.csv: is one of the inputs; refusing to"),
        ("s3://digits-in/m.onnx", OutputError, "s3://digits-in/m.onnx: is the model; refusing to replace it"),
    ],
)
def test_outputs_that_cannot_be_written_are_refused_before_any_work(s3, output, error, message):
    with pytest.raises(error) as refused:
        check_destination(output, ["s3://digits-in/a.npy", "s3://digits-in/a.errors.csv"], "s3://digits-in/m.onnx")
    assert message in str(refused.value)


def test_the_command_names_a_missing_bucket_in_one_line_and_writes_nothing(exported, tmp_path, s3):
    _, model = exported
    for inputs, output in ((["s3://nobucket/batch1/"], tmp_path / "p.csv"), ([model], "s3://nobucket/p.csv")):
        result = predict("--model", model, *inputs, "--output", output)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == ["error: s3://nobucket: no such bucket"]
    assert list(tmp_path.iterdir()) == []


def test_the_errors_object_sits_beside_the_output():
    assert object_errors_uri("s3://b/p/q.parquet") == "s3://b/p/q.errors.csv"


@pytest.mark.parametrize("where", ["file", "object"])
def test_the_failed_inputs_are_listed_before_the_rows_are_put_in_place(s3, tmp_path, monkeypatch, where):
    """A run stopped between the two (SIGTERM mid-upload) keeps the former rows: it never leaves new
    rows beside the former run's errors."""
    from mnist_ann.core.process import Terminated
    from mnist_ann.predict import objects
    from mnist_ann.predict.outputs import destinations
    from mnist_ann.predict.outputs.destinations import prediction_output
    from mnist_ann.predict.outputs.spec import OutputSpec

    output = str(tmp_path / "p.csv") if where == "file" else "s3://preds-out/p.csv"
    errors = str(tmp_path / "p.errors.csv") if where == "file" else "s3://preds-out/p.errors.csv"
    order = []
    real_errors_beside = destinations.errors_beside

    def errors_beside_then_stop(at, failed):
        order.append(real_errors_beside(at, failed))
        raise Terminated  # the signal, as the errors are in place and the rows not yet

    def rows(failed):
        with prediction_output(output, OutputSpec(), failed) as writer:
            writer.write(["a.png"], np.eye(10, dtype=np.float32)[[3]], ["mnist/light"])
            failed.append(("b.png", "cannot decode"))

    rows([])
    former = Path(output).read_bytes() if where == "file" else s3.get(output)
    monkeypatch.setattr(destinations, "errors_beside", errors_beside_then_stop)
    with pytest.raises(Terminated):
        rows([])
    assert [str(o) for o in order] == [errors]
    assert (Path(output).read_bytes() if where == "file" else s3.get(output)) == former
    if where == "object":
        listed = dict(objects.list_objects("s3://preds-out/", hidden=True))
        assert listed == {output: len(former), errors: len(s3.get(errors))}  # no staged key left beside
    else:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.errors.csv"]
