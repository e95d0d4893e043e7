"""The layout the docs promise and DVC relies on: the families and the layers between them, a test
module per library module and per stage, dvc.yaml's deps generated from what each stage imports (or
DVC would not rerun it when that code changes), and the docs naming modules and tests that exist."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, STAGES

sys.path.insert(0, str(REPO / "tools"))
import stage_deps
from stage_deps import file_of, imported_library_modules, module_name, stage_imports

DVC_YAML_PATH = REPO / "dvc.yaml"

LIBRARY = REPO / "src" / "mnist_ann"


def library_modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if p.name != "__init__.py" or p.parent != LIBRARY)


# One test file for a package rather than one per module: the tracking door's modules are tested
# together, through a real MLflow store.
TESTED_AS_A_PACKAGE = {
    "mnist_ann.tracking": "test_tracking.py",
    "mnist_ann.training.augment": "test_augment.py",
    "mnist_ann.training.card": "test_card.py",
    "mnist_ann.training.report": "test_report.py",
}
# Each family declares its own errors (core's, training's, predict's): one test file checks them all.
SHARED_NAMES = {"errors": "test_errors.py"}


def expected_test_file(module: str) -> str:
    """The test file of a library module: test_<its own name>.py (test_decode.py for
    mnist_ann.predict.inputs.images.decode), or its package's, where TESTED_AS_A_PACKAGE says so."""
    package = next((p for p in TESTED_AS_A_PACKAGE if module == p or module.startswith(p + ".")), None)
    if package:
        return TESTED_AS_A_PACKAGE[package]
    name = module.rsplit(".", 1)[-1]
    return SHARED_NAMES.get(name, f"test_{name}.py")


def test_every_library_module_and_stage_has_its_test_module():
    tested = {p.name for p in (REPO / "tests").glob("test_*.py")}
    modules = [module_name(p) for p in library_modules() if p.name != "__init__.py" or p.parent.name == "tracking"]
    wanted = {expected_test_file(m) for m in modules} | {f"test_stage_{stage}.py" for stage in STAGES}
    assert sorted(wanted - tested) == []


def test_module_names_are_unique_so_their_test_files_are():
    names = [module_name(p).rsplit(".", 1)[-1] for p in library_modules() if p.name != "__init__.py"]
    names = [n for n in names if n not in SHARED_NAMES]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


FAMILIES = ("core", "training", "tracking", "predict")
# What each package may import of the others: core is the kernel both families share; tracking is
# the one door to MLflow, used by both; predict (inference) and training (the pipeline) never meet.
ALLOWED = {
    "core": {"core"},
    "tracking": {"core", "tracking"},
    "training": {"core", "tracking", "training"},
    "predict": {"core", "tracking", "predict"},
}
# Heavy libraries a package must not import, even lazily: predict runs where only onnxruntime is.
FORBIDDEN_LIBRARIES = {
    "core": {"tensorflow", "keras", "tf2onnx", "mlflow", "dvc", "ray"},
    "predict": {"tensorflow", "keras", "tf2onnx", "dvc"},
}


def test_the_top_of_the_package_is_the_families_and_the_command():
    """`ls src/mnist_ann` shows the architecture: the two families, the kernel they share, the
    tracking door, and the console command."""
    top = sorted(p.name for p in LIBRARY.iterdir() if p.name != "__pycache__")
    assert top == sorted(["__init__.py", "cli.py", *FAMILIES])


def family_of(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_imports_only_what_its_layer_allows(family):
    """core imports neither family; predict imports neither training nor TensorFlow; tracking
    imports neither family (lazy imports count: they run all the same)."""
    crossing = []
    for path in sorted((LIBRARY / family).rglob("*.py")):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for imported in imported_library_modules(path, package):
            if imported != "mnist_ann" and family_of(imported) not in ALLOWED[family]:
                crossing.append(f"{path.relative_to(REPO)} imports {imported}")
        for library in third_party_imports(path) & FORBIDDEN_LIBRARIES.get(family, set()):
            crossing.append(f"{path.relative_to(REPO)} imports {library}")
    assert crossing == []


def third_party_imports(path: Path) -> set[str]:
    """The top-level names of the modules `path` imports with absolute imports (lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_stage_imports_predict():
    """So that editing the inference tool reruns no stage and re-records nothing in dvc.lock."""
    imported = {p for stage in STAGES for p in stage_imports(stage)}
    assert [p for p in imported if (LIBRARY / "predict") in p.parents] == []


def test_dvc_yaml_deps_are_what_the_stages_import():
    """dvc.yaml's code deps are generated from the import graph (`make deps`): each stage lists the
    modules it imports, directly or not, and no other, so that editing a module reruns exactly the
    stages that import it."""
    assert stage_deps.differences() == {}, "run `make deps`"


def test_the_generated_deps_follow_an_edit_of_the_import_graph(tmp_path):
    """The check can fail: a dvc.yaml that lacks a module the stage imports, or lists one it does
    not, is found, and the rewrite puts it right without touching the other lines."""
    original = DVC_YAML_PATH.read_text()
    stale = original.replace("      - src/mnist_ann/training/numerics.py\n", "", 1).replace(
        "      - pipeline/download.py\n", "      - pipeline/download.py\n      - src/mnist_ann/predict/job.py\n", 1
    )
    (tmp_path / "dvc.yaml").write_text(stale)
    found = stage_deps.differences(tmp_path / "dvc.yaml")
    assert found["download"] == (["src/mnist_ann/training/numerics.py"], ["src/mnist_ann/predict/job.py"])
    assert stage_deps.rewritten(stale) == original


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


@pytest.mark.heavy
def test_importing_the_library_changes_nothing_in_the_process():
    """No module edits the environment or sys.modules when imported (entry points do, once: see
    harness.start_keras). The libraries they use are imported first, since some of them set variables."""
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


def layout_block() -> list[str]:
    """The lines of docs/development.md's layout block from `src/mnist_ann/` to the next top-level entry."""
    text = (REPO / "docs" / "development.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1].splitlines()
    start = next(i for i, line in enumerate(block) if line.startswith("src/mnist_ann/"))
    end = next(i for i in range(start + 1, len(block)) if block[i] and not block[i].startswith(" "))
    return block[start:end]


ENTRY = re.compile(r"^( *)([a-z_]+/?(?:, [a-z_]+/?)*)(?:  +(.*))?$")
DESCRIPTION_COLUMN = 20  # continuation lines start here or further right


def documented_packages() -> dict[Path, tuple[list[str], str]]:
    """{package folder: (the names its entries list, all the text of its section)} from the block."""
    found: dict[Path, tuple[list[str], str]] = {}
    stack: list[tuple[int, Path]] = [(-2, LIBRARY)]
    for line in layout_block()[1:]:
        indent = len(line) - len(line.lstrip())
        entry = ENTRY.match(line) if indent < DESCRIPTION_COLUMN else None
        if entry is None:  # a description carried on: it belongs to every open package
            for _, folder in stack:
                found.setdefault(folder, ([], ""))
                found[folder] = (found[folder][0], found[folder][1] + " " + line)
            continue
        while stack[-1][0] >= indent:
            stack.pop()
        names = entry.group(2).split(", ")
        parent = stack[-1][1]
        for _, folder in stack:
            listed, text = found.setdefault(folder, ([], ""))
            found[folder] = (listed + names if folder == parent else listed, text + " " + line)
        for name in names:
            if name.endswith("/"):
                stack.append((indent, parent / name.rstrip("/")))
                found.setdefault(parent / name.rstrip("/"), ([], line))
    return found


def test_the_development_docs_layout_is_the_tree():
    """Every module and package under src/mnist_ann/ is named in docs/development.md's layout, in
    its package's place, and every name listed there exists."""
    documented = documented_packages()
    wrong = []
    for folder, (listed, _) in documented.items():
        for name in listed:
            exists = (folder / name.rstrip("/")).is_dir() if name.endswith("/") else (folder / f"{name}.py").is_file()
            if not exists:
                wrong.append(f"listed but absent: {folder.relative_to(LIBRARY.parent)}/{name}")
    for folder in [LIBRARY, *sorted(p.parent for p in LIBRARY.rglob("__init__.py") if p.parent != LIBRARY)]:
        # a package named only in its parent's description (inputs/ holds images/) is described there
        described = next(f for f in [folder, *folder.parents] if f in documented or f == LIBRARY)
        text = documented.get(described, ([], ""))[1]
        for child in sorted(folder.iterdir()):
            name = child.stem if child.suffix == ".py" else child.name
            if child.name in ("__init__.py", "__pycache__") or not (child.suffix == ".py" or child.is_dir()):
                continue
            if not re.search(rf"\b{name}\b", text):
                wrong.append(f"not in the layout: {child.relative_to(LIBRARY.parent)}")
    assert wrong == []


def _documents() -> list[tuple[str, str]]:
    """(where, text): every docstring and comment of the library and the stage scripts, and every page."""
    found = []
    for path in [*sorted(LIBRARY.rglob("*.py")), *sorted((REPO / "pipeline").glob("*.py"))]:
        text = path.read_text()
        docstrings = [
            ast.get_docstring(node) or ""
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        comments = re.findall(r"#.*$", text, re.M)
        found.append((str(path.relative_to(REPO)), "\n".join(docstrings + comments)))
    for page in [REPO / "README.md", REPO / "SECURITY.md", *sorted((REPO / "docs").glob("*.md"))]:
        found.append((str(page.relative_to(REPO)), page.read_text()))
    return found


def test_every_module_a_docstring_or_a_page_names_exists():
    """A module renamed or merged leaves no docstring or page naming the old one: every `name.py`
    is a file of the repository, every `mnist_ann.x.y` a module or a name in one, every
    `mnist_ann/x/` path a folder or file of the package."""
    files = {p.name for p in REPO.rglob("*.py") if ".venv" not in p.parts}
    files |= {p.name for p in (REPO / ".dvc").rglob("*")}
    stale = []
    for where, text in _documents():
        for name in set(re.findall(r"(?<![\w/.-])([a-z_][a-z0-9_]*\.py)\b", text)):
            if name not in files:
                stale.append(f"{where}: {name}")
        for dotted in set(re.findall(r"\bmnist_ann(?:\.[a-z_][a-z0-9_]*)+", text)):
            if dotted.split(".")[1] in TOP_NAMES and not _resolves(dotted):  # not a tag (mnist_ann.completed)
                stale.append(f"{where}: {dotted}")
        for path in set(re.findall(r"\b((?:src/)?mnist_ann/[\w/]*\w)(?:\.py)?/?", text)):
            relative = path.removeprefix("src/")
            if not any((LIBRARY.parent / f"{relative}{suffix}").exists() for suffix in ("", ".py")):
                stale.append(f"{where}: {path}")
    assert sorted(stale) == []


TOP_NAMES = {p.stem for p in LIBRARY.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}


def _resolves(dotted: str) -> bool:
    """Whether `mnist_ann.a.b.c` is a module, or a module followed by names defined in it (from its source)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = file_of(".".join(parts[:cut]))
        if path is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        source = path.read_text()
        return bool(re.search(rf"^\s*(?:def |class |){re.escape(rest[0])}\b", source, re.M))
    return False
