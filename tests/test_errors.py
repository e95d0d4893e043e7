"""core/errors.py, training/errors.py, predict/errors.py: every error the library raises on purpose is
declared in its family's errors module, derives from MnistAnnError, and reaches the user as one line
without a traceback."""

from __future__ import annotations

import ast
import inspect
import json

import pytest

from helpers import REPO
from mnist_ann.core import errors
from mnist_ann.core.process import run_main
from mnist_ann.predict import errors as predict_errors
from mnist_ann.training import errors as training_errors

ERRORS = sorted(
    {
        cls
        for module in (errors, training_errors, predict_errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception)
    },
    key=lambda cls: cls.__name__,
)


def test_errors_are_declared_in_one_place():
    """No other module of the library or stage script defines an exception class (a private one
    that never leaves its module, like transfer.py's retry signal, excepted); core's errors are
    the ones both families raise, so neither family declares its own copy of them."""
    elsewhere = []
    for path in [*(REPO / "src" / "mnist_ann").rglob("*.py"), *(REPO / "pipeline").glob("*.py")]:
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ClassDef)
                and not node.name.startswith("_")
                and any(
                    isinstance(base, ast.Name) and (base.id.endswith("Error") or base.id == "Exception")
                    for base in node.bases
                )
            ):
                elsewhere.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert elsewhere == []
    assert len(ERRORS) >= 11 and all(issubclass(cls, errors.MnistAnnError) for cls in ERRORS)


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_each_error_is_one_line_and_exit_1(error, capsys):
    def main(argv):
        raise error("params.yaml: train.epochs must be a positive integer, got -3")

    with pytest.raises(SystemExit) as exited:
        run_main(main, [])
    assert exited.value.code == 1
    assert capsys.readouterr().err == "error: params.yaml: train.epochs must be a positive integer, got -3\n"


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_an_error_crosses_a_process_boundary_as_its_own_class(error):
    """Ray Data hands a worker's raised error on as text in its own class; the record keeps both."""
    record = json.loads(json.dumps(predict_errors.error_record(error("model.onnx: returned NaN"))))
    again = predict_errors.from_record(record)
    assert type(again) is error and str(again) == "model.onnx: returned NaN"


def test_a_record_naming_another_class_gives_the_base_class_not_that_class():
    again = predict_errors.from_record({"class": "SystemExit", "message": "no"})
    assert type(again) is errors.MnistAnnError and str(again) == "no"


def test_shown_text_has_no_control_characters_and_is_utf8():
    from mnist_ann.core.errors import shown

    assert shown("a\nb\r\x1b[31mc\x7f\x9b\u2028d\te") == "a\\nb\\r\\x1b[31mc\\x7f\\x9b\\u2028d\\te"
    assert shown(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"
    assert shown("lone \ud800") == "lone \\ud800"
    assert shown("plain text, ünïcode 7") == "plain text, ünïcode 7"
