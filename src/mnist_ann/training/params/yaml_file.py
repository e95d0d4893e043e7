"""Reading a parameter file as YAML, defensively: a bounded size, regular files only, no aliases, no
duplicate keys, and YAML 1.2's floats. Errors are one line naming the file (and the line)."""

from __future__ import annotations

import re
import reprlib
from pathlib import Path
from typing import Any

import yaml

from ...core.errors import ParamsError, first_line
from ...core.files import unreadable_reason

# params.yaml is about 3 KB: anything past this is a mistake or an attack, refused before parsing.
MAX_PARAMS_BYTES = 64 << 10


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads `1e-5` as a float, as YAML 1.2 and DVC's own parser do (PyYAML's
    YAML 1.1 rules would make it the string '1e-5'); that refuses aliases (`*name`: a few lines of
    them expand to gigabytes, the "billion laughs"), and duplicate keys, which PyYAML would let the
    last one win while DVC refuses the file."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a parameter file", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]`: SafeLoader refuses it itself
                continue
            if key_node.value in seen:
                message = f"duplicate key {reprlib.repr(key_node.value)}"
                raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$|^[-+]?\d+[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def read_params_file(path: str | Path) -> Any:
    """The parsed content of `path`, or ParamsError naming the file and what is wrong."""
    path = Path(path)
    reason = unreadable_reason(path, MAX_PARAMS_BYTES, "a parameter file")
    if reason:
        raise ParamsError(f"{path}: {reason}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # UTF-16 from an editor, or not text at all
        raise ParamsError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return parse_params_text(text, path)


def parse_params_text(text: str, path: str | Path) -> Any:
    """`text` (the content of `path`) parsed, or ParamsError naming `path` and what is wrong."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise ParamsError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:  # `[[[[...` thousands deep: PyYAML's composer recurses per level
        raise ParamsError(f"{path}: not valid params: nested too deeply") from None
    except ValueError as exc:  # an integer of over 4300 digits: Python refuses to convert it
        raise ParamsError(f"{path}: not valid params: {first_line(exc, 120)}") from None


def params_digest(path: str | Path) -> str | None:
    """The sha256 of the parameter file's bytes (None if it cannot be read): taken before a stage
    reads its params, and compared when its work is done (check_params_unchanged)."""
    import hashlib

    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read(MAX_PARAMS_BYTES + 1)).hexdigest()
    except OSError:
        return None


def check_params_unchanged(path: str | Path, digest: str | None) -> None:
    """ParamsError if the file changed since `digest` was taken. DVC records the params it finds
    in the file once the stage ends: an edit while training made dvc.lock say `epochs: 3` for a
    model trained 5 epochs, and poisoned DVC's run cache with it."""
    if params_digest(path) != digest:
        raise ParamsError(
            f"{path}: changed while the stage ran; nothing written, so that dvc.lock cannot record params "
            "the outputs were not made with: run the stage again"
        )
