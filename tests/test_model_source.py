"""model_source.py: the .onnx file a predict run scores with: a path as given, the pipeline's export
by default, an MLflow URI fetched for the block only. (test_command.py fetches registered versions.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_ann.core.errors import ModelError
from mnist_ann.predict.model_source import DEFAULT_MODEL, is_model_uri, model_file


def test_a_path_is_used_as_given_and_none_means_the_pipelines_export(tmp_path, monkeypatch):
    with model_file(tmp_path / "any.onnx") as path:
        assert path == tmp_path / "any.onnx"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=r"^no model named and there is no models/model.onnx here"), model_file(None):
        pass
    DEFAULT_MODEL.parent.mkdir()
    DEFAULT_MODEL.write_bytes(b"")
    with model_file(None) as path:
        assert path == Path("models/model.onnx")


def test_mlflow_uris_are_told_from_paths():
    assert is_model_uri("models:/mnist-ann/3") and is_model_uri("runs:/abc/onnx_model")
    assert not is_model_uri("models/model.onnx") and not is_model_uri(Path("models:/x"))


def test_a_uri_without_a_store_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    no_store = r"^models:/mnist-ann@champion: no MLflow store at .*mlflow\.db"
    with pytest.raises(ModelError, match=no_store), model_file("models:/mnist-ann@champion"):
        pass


def test_the_default_int8_model_is_where_export_writes_it():
    from mnist_ann.core.onnx_model import INT8_NAME
    from mnist_ann.predict.model_source import DEFAULT_INT8

    assert Path("models") / "int8" / INT8_NAME == DEFAULT_INT8
