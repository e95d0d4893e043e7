"""The layout the README promises and DVC relies on: a test module per library module and per stage,
dvc.yaml's deps naming every library module a stage imports (or DVC would not rerun it when that
code changes), small modules and functions, and SECURITY.md naming tests that exist."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import DVC_YAML, REPO, STAGES

LIBRARY = REPO / "src" / "mnist_ann"
MAX_MODULE_LINES = 200  # README: "small modules with one job each"
MAX_FUNCTION_LINES = 50


def library_modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if p.name != "__init__.py" or p.parent != LIBRARY)


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# One test file for a package rather than one per module: the tracking door's modules are tested
# together, through a real MLflow store.
TESTED_AS_A_PACKAGE = {
    "mnist_ann.tracking": "test_tracking.py",
    "mnist_ann.augment": "test_augment.py",
    "mnist_ann.card": "test_card.py",
}


def expected_test_file(module: str) -> str:
    """The test file of a library module: test_<its own name>.py (test_decode.py for
    mnist_ann.predict.images.decode), or its package's, where TESTED_AS_A_PACKAGE says so."""
    package = next((p for p in TESTED_AS_A_PACKAGE if module == p or module.startswith(p + ".")), None)
    return TESTED_AS_A_PACKAGE[package] if package else f"test_{module.rsplit('.', 1)[-1]}.py"


def test_every_library_module_and_stage_has_its_test_module():
    tested = {p.name for p in (REPO / "tests").glob("test_*.py")}
    modules = [module_name(p) for p in library_modules() if p.name != "__init__.py" or p.parent.name == "tracking"]
    wanted = {expected_test_file(m) for m in modules} | {f"test_stage_{stage}.py" for stage in STAGES}
    assert sorted(wanted - tested) == []


def test_module_names_are_unique_so_their_test_files_are():
    names = [module_name(p).rsplit(".", 1)[-1] for p in library_modules() if p.name != "__init__.py"]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_the_package_shows_its_architecture():
    """At most ~20 modules at the top of the package; the predict tool's in a package of its own
    that no stage imports (so that editing it reruns no stage)."""
    top = [p for p in LIBRARY.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 20, sorted(p.name for p in top)
    imported = {p for stage in STAGES for p in stage_imports(stage)}
    assert [p for p in imported if (LIBRARY / "predict") in p.parents] == []


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


def stage_imports(stage: str) -> set[Path]:
    """Every file of the library and of pipeline/ that the stage's script imports, directly or not."""
    script = REPO / "pipeline" / f"{stage}.py"
    seen, todo = set(), imported_library_modules(script, "")
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            path = file_of(module)
            package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
            todo |= imported_library_modules(path, package)
    files = {file_of(m) for m in seen if m != "mnist_ann"}
    return files | {script} | {script.parent / f"{name}.py" for name in imported_pipeline_helpers(script)}


def imported_pipeline_helpers(script: Path) -> set[str]:
    """The modules beside the stage scripts (pipeline/*.py) that `script` imports."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        names += [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        found |= {n for n in names if (script.parent / f"{n}.py").is_file()}
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_deps_name_every_module_a_stage_imports_and_no_other(stage):
    """A dep may name a folder (src/mnist_ann/tracking): then the stage imports every module in it,
    so that editing any of them reruns the stage, and editing one it does not import never does."""
    needed = {str(path.relative_to(REPO)) for path in stage_imports(stage)}
    deps = [d for d in DVC_YAML["stages"][stage]["deps"] if d.startswith(("src/", "pipeline/"))]
    folders = [d.rstrip("/") for d in deps if (REPO / d).is_dir()]
    listed = {d for d in deps if d not in folders and not d.endswith("/")}
    listed |= {str(p.relative_to(REPO)) for f in folders for p in (REPO / f).rglob("*.py")}
    assert sorted(needed - listed) == [], "missing from dvc.yaml"
    assert sorted(listed - needed) == [], "listed in dvc.yaml but not imported"


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


def test_no_library_function_takes_more_than_four_positional_parameters():
    """Call sites that read `build_model((32, 16), "relu", "adam", 0.01, ...)` say nothing: past four,
    parameters are keyword-only or a small dataclass."""
    crowded = []
    for path in library_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                if len(positional) > 4:
                    crowded.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert crowded == []


def test_importing_the_library_changes_nothing_in_the_process():
    """No module edits the environment or sys.modules when imported (entry points do, once: see
    entry.start_keras). The libraries they use are imported first, since some of them set variables."""
    probe = (
        "import importlib, os, pkgutil, sys\n"
        "import keras, tensorflow, onnx, onnxruntime, PIL.Image, requests, yaml\n"
        "import mnist_ann\n"
        "before, blocked = dict(os.environ), {k for k, v in sys.modules.items() if v is None}\n"
        "for module in pkgutil.walk_packages(mnist_ann.__path__, 'mnist_ann.'):\n"
        "    importlib.import_module(module.name)\n"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
        "print(changed, sorted({k for k, v in sys.modules.items() if v is None} - blocked))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[] []"


def test_every_child_a_test_starts_gets_default_signal_dispositions():
    """Issue 23: a test that signals a child it started with a plain subprocess.Popen passes from a
    terminal and fails under `make test &` or nohup, which start the suite with SIGINT or SIGHUP
    ignored: the child inherits the ignore and the signal does nothing. Every Popen in the suite goes
    through helpers.popen_with_default_signals, whose own call is the only plain one."""
    plain = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _called_name(node.func) == "Popen":
                plain.append(f"{path.name}:{node.lineno}")
    assert plain == [f"helpers.py:{_line_of('tests/helpers.py', 'return subprocess.Popen(')}"], plain


def _called_name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _line_of(path: str, text: str) -> int:
    return next(n for n, line in enumerate((REPO / path).read_text().splitlines(), 1) if text in line)
