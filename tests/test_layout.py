"""The layout the README promises and DVC relies on: a test module per library module and per stage,
dvc.yaml's deps naming every library module a stage imports (or DVC would not rerun it when that
code changes), small modules and functions, and SECURITY.md naming tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from helpers import REPO, STAGES

LIBRARY = REPO / "src" / "mnist_ann"
MAX_MODULE_LINES = 200  # README: "small modules with one job each"
MAX_FUNCTION_LINES = 50


def library_modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if p.name != "__init__.py" or p.parent != LIBRARY)


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_library_module_and_stage_has_its_test_module():
    tested = {p.name for p in (REPO / "tests").glob("test_*.py")}
    wanted = {f"test_{module_name(p).split('.')[1]}.py" for p in library_modules()}
    wanted |= {f"test_stage_{stage}.py" for stage in STAGES}
    assert sorted(wanted - tested) == []


def imported_library_modules(path: Path, package: str) -> set[str]:
    """mnist_ann modules that `path` imports anywhere in it (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
        module = ".".join([*base, *([node.module] if node.module else [])])
        if not module.startswith("mnist_ann"):
            continue
        for candidate in [module] + [f"{module}.{alias.name}" for alias in node.names]:
            parts = candidate.split(".")
            found |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    return {m for m in found if file_of(m) is not None}


def file_of(module: str) -> Path | None:
    path = LIBRARY.parent.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_deps_name_every_library_module_a_stage_imports(stage):
    seen, todo = set(), imported_library_modules(REPO / "pipeline" / f"{stage}.py", "")
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            path = file_of(module)
            package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
            todo |= imported_library_modules(path, package)
    needed = {str(file_of(m).relative_to(REPO)) for m in seen if m != "mnist_ann"}
    deps = {d for d in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["deps"] if d.startswith("src/")}
    assert sorted(needed - deps) == [], "missing from dvc.yaml"
    assert sorted(deps - needed) == [], "listed in dvc.yaml but not imported"


def test_modules_and_functions_stay_small():
    too_long = []
    for path in [*library_modules(), *(REPO / "pipeline").glob("*.py")]:
        lines = path.read_text().count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(REPO)}: {lines} lines")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert too_long == []


def test_security_md_names_tests_that_exist():
    text = (REPO / "SECURITY.md").read_text()
    named = re.findall(r"`(test_\w+\.py)(?:::(\w+))?", text)
    assert len(named) > 10
    for module, test in named:
        path = REPO / "tests" / module
        assert path.is_file(), module
        if test:
            assert re.search(rf"^def {test}\(", path.read_text(), re.M), f"{module}::{test}"
