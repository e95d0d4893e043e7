"""parquet_rows.py (through the CLI, and through the writers): Parquet output has the rows of the
CSV output, in the same order, with typed columns and the model's own float32 probabilities."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from helpers import font_digits, predict, read_rows
from mnist_ann.predict.cluster.actor import TaskRows
from mnist_ann.predict.cluster.task_shards import ShardTarget, task_summary
from mnist_ann.predict.outputs import parquet_rows
from mnist_ann.predict.outputs.spec import OutputSpec
from mnist_ann.predict.outputs.writers import PredictionWriter

COLUMNS = ["source", "label", "confidence", *[f"prob_{d}" for d in range(10)], "prepared"]


def _inputs(folder):
    folder.mkdir()
    np.save(folder / "a.npy", font_digits()[:7])
    for i in range(3):
        Image.fromarray(font_digits()[10 + i]).save(folder / f"img{i}.png")
    (folder / "bad.png").write_bytes(b"not an image")
    return [folder / "a.npy", folder / "img0.png", folder / "bad.png", folder / "img1.png", folder / "img2.png"]


@pytest.mark.heavy
def test_parquet_has_the_csv_rows_typed_in_order_with_the_same_errors(exported, tmp_path):
    inputs = _inputs(tmp_path / "in")
    csv = predict("--model", exported[1], *inputs, "--output", tmp_path / "c.csv")
    by_suffix = predict("--model", exported[1], *inputs, "--output", tmp_path / "p.parquet")
    named = predict("--model", exported[1], *inputs, "--format", "parquet", "--output", tmp_path / "named.out")
    assert csv.returncode == by_suffix.returncode == named.returncode == 2, by_suffix.stderr
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.schema.names == COLUMNS
    types = {field.name: field.type for field in table.schema}
    assert types["source"] == types["prepared"] == pa.string() and types["label"] == pa.uint8()
    assert all(types[name] == pa.float32() for name in COLUMNS[2:-1])
    rows = read_rows(tmp_path / "c.csv")
    assert table.column("source").to_pylist() == [row["source"] for row in rows]  # order, names, array rows
    assert table.column("prepared").to_pylist() == [row["prepared"] for row in rows]
    assert table.column("label").to_pylist() == [int(row["label"]) for row in rows]
    probabilities = np.stack([table.column(f"prob_{d}").to_numpy() for d in range(10)], axis=1)
    written = np.array([[float(row[f"prob_{d}"]) for d in range(10)] for row in rows])
    np.testing.assert_allclose(probabilities, written, atol=5e-7)  # CSV's six decimals, Parquet's float32
    assert np.array_equal(table.column("confidence").to_numpy(), probabilities.max(axis=1))
    errors = (tmp_path / "p.errors.csv").read_bytes()
    assert errors == (tmp_path / "c.errors.csv").read_bytes() and b"bad.png" in errors
    assert pq.read_table(tmp_path / "named.out").equals(table)


@pytest.mark.heavy
def test_without_probabilities_and_with_a_confidence_floor(exported, tmp_path):
    inputs = _inputs(tmp_path / "in")
    done = predict(
        "--model", exported[1], *inputs, "--no-probabilities", "--min-confidence", "0.9", "--output",
        tmp_path / "p.parquet",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.schema.names == ["source", "label", "confidence", "prepared", "uncertain"]
    assert table.schema.field("uncertain").type == pa.bool_()
    confidence = table.column("confidence").to_numpy()
    assert table.column("uncertain").to_pylist() == (confidence < np.float32(0.9)).tolist()


def test_row_groups_keep_the_order_of_the_writes(monkeypatch):
    monkeypatch.setattr(parquet_rows, "ROW_GROUP", 4)
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(10), size=11).astype(np.float32)
    buffer = io.BytesIO()
    writer = PredictionWriter(buffer, OutputSpec("parquet", True))
    writer.write([f"img{i}.png" for i in range(3)], probabilities[:3], ["mnist/dark"] * 3)
    writer.write_array_rows("a\udcff.npy", 5, probabilities[3:])  # a name that is not UTF-8: escaped, as in CSV
    writer.finish()
    file = pq.ParquetFile(io.BytesIO(buffer.getvalue()))
    # buffered until 4 rows or more (3, then 11), written in groups of at most 4
    assert file.metadata.num_rows == 11 and [file.metadata.row_group(g).num_rows for g in range(3)] == [4, 4, 3]
    table = file.read()
    assert table.column("source").to_pylist() == [f"img{i}.png" for i in range(3)] + [
        f"a\\xff.npy#{i}" for i in range(5, 13)
    ]
    assert np.array_equal(np.stack([table.column(f"prob_{d}").to_numpy() for d in range(10)], axis=1), probabilities)


def test_parquet_shards_written_by_tasks_concatenate_to_the_single_file(tmp_path):
    probabilities = np.random.default_rng(0).dirichlet(np.ones(10), size=7).astype(np.float32)
    sources, prepared = [f"img{i}.png" for i in range(7)], ["mnist/dark"] * 7
    target = ShardTarget(str(tmp_path), OutputSpec("parquet", True))
    for number, (lo, hi) in enumerate([(0, 3), (3, 7)]):
        rows = TaskRows()
        rows.scored(sources[lo:hi], probabilities[lo:hi], prepared[lo:hi])
        task_summary(rows.columns("node-a"), "", number, target)
    single = io.BytesIO()
    writer = PredictionWriter(single, OutputSpec("parquet", True))
    writer.write(sources, probabilities, prepared)
    writer.finish()
    parts = sorted(tmp_path.iterdir())
    assert [p.name for p in parts] == ["part-000000.parquet", "part-000001.parquet"]
    joined = pa.concat_tables([pq.read_table(part) for part in parts])
    assert joined.equals(pq.read_table(io.BytesIO(single.getvalue())))


@pytest.mark.parametrize(("start", "n"), [(0, 0), (0, 1), (7, 5), (95, 20), (999_990, 30), (0, 1200)])
def test_an_array_files_row_names_are_those_python_would_write(start, n):
    import pyarrow as pa

    from mnist_ann.predict.outputs.parquet_rows import _numbered, _strings

    names = _strings(pa, [_numbered("d/x\u00e9.npy#", start, n), _numbered("y#", 3, 2)]).to_pylist()
    assert names == [f"d/x\u00e9.npy#{i}" for i in range(start, start + n)] + ["y#3", "y#4"]
