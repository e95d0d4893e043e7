"""dvc.yaml's code deps, generated from the import graph: `make deps` writes them, and
tests/test_layout.py fails when they differ from what the stages import.

A stage depends on its script, the helpers beside it (pipeline/*.py) and every module of the library it
imports, directly or not, lazy imports included (they run all the same). A package folder is listed
whole when the stage imports every module in it (then a module added there is a dep at once), its
modules one by one otherwise. So editing a module reruns exactly the stages that import it, and an
edit inside `predict/`, which no stage imports, reruns none.

    python tools/stage_deps.py           print each stage's code deps
    python tools/stage_deps.py --check   exit 1, naming the stage, when dvc.yaml differs
    python tools/stage_deps.py --write   rewrite the code deps in dvc.yaml (comments and order kept)
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "src" / "mnist_ann"
CODE = ("src/", "pipeline/")  # the deps this tool owns; data and model deps are dvc.yaml's own


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def file_of(module: str) -> Path | None:
    path = LIBRARY.parent.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_library_modules(path: Path, package: str) -> set[str]:
    """mnist_ann modules (and the packages holding them) that `path` imports anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            candidates = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate == "mnist_ann" or candidate.startswith("mnist_ann."):
                parts = candidate.split(".")
                found |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    return {m for m in found if file_of(m) is not None}


def library_closure(modules: set[str]) -> set[str]:
    """`modules` and every library module they import, directly or not."""
    seen, todo = set(), set(modules)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            path = file_of(module)
            assert path is not None  # imported_library_modules keeps only modules with a file
            package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
            todo |= imported_library_modules(path, package)
    return seen


def pipeline_helpers(script: Path) -> set[Path]:
    """The modules beside the stage scripts (pipeline/*.py) that `script` imports."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        names += [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        found |= {script.parent / f"{n}.py" for n in names if (script.parent / f"{n}.py").is_file()}
    return found


def stage_imports(stage: str) -> set[Path]:
    """Every file of the library and of pipeline/ that the stage's script imports, directly or not."""
    script = REPO / "pipeline" / f"{stage}.py"
    modules = library_closure(imported_library_modules(script, ""))
    files = {path for m in modules if m != "mnist_ann" and (path := file_of(m)) is not None}
    return files | {script} | pipeline_helpers(script)


def code_deps(stage: str) -> list[str]:
    """The stage's code deps as dvc.yaml lists them: whole package folders where it imports all of
    one (the outermost such folder), single files elsewhere."""
    files = stage_imports(stage)
    whole = [
        folder
        for folder in sorted({p.parent for p in files if p.is_relative_to(LIBRARY)} - {LIBRARY})
        if all(p in files for p in folder.rglob("*.py"))
    ]
    outermost = [f for f in whole if not any(f.is_relative_to(other) and f != other for other in whole)]
    listed = {str(f.relative_to(REPO)) for f in outermost}
    listed |= {str(p.relative_to(REPO)) for p in files if not any(p.is_relative_to(f) for f in outermost)}
    return sorted(listed)


def stages(dvc_yaml: Path = REPO / "dvc.yaml") -> dict:
    return yaml.safe_load(dvc_yaml.read_text())["stages"]


def differences(dvc_yaml: Path = REPO / "dvc.yaml") -> dict[str, tuple[list[str], list[str]]]:
    """{stage: (missing from dvc.yaml, listed but not imported)} for the stages whose code deps differ."""
    found = {}
    for name, stage in stages(dvc_yaml).items():
        listed = {d.rstrip("/") for d in stage.get("deps", []) if d.startswith(CODE)}
        wanted = set(code_deps(name))
        if listed != wanted:
            found[name] = (sorted(wanted - listed), sorted(listed - wanted))
    return found


def rewritten(text: str) -> str:
    """dvc.yaml's text with each stage's code deps replaced by code_deps(stage), in place: the deps
    that are not code keep their place, comments and everything else stay as they are."""
    out: list[str] = []
    stage, in_deps = "", False
    for line in text.splitlines(keepends=True):
        stage_match = re.match(r"^  (\w+):\s*$", line)
        if stage_match:
            stage, in_deps = stage_match.group(1), False
        if in_deps:
            item = re.match(r"^      - (\S+)\s*$", line)
            if item and item.group(1).startswith(CODE):
                continue
            if not item and not re.match(r"^      #", line):
                out.extend(f"      - {dep}\n" for dep in code_deps(stage))
                in_deps = False
        if stage and re.match(r"^    deps:\s*$", line):
            in_deps = True
        out.append(line)
    if in_deps:
        out.extend(f"      - {dep}\n" for dep in code_deps(stage))
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 when dvc.yaml's code deps differ")
    action.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = parser.parse_args(argv)
    dvc_yaml = REPO / "dvc.yaml"
    if args.write:
        dvc_yaml.write_text(rewritten(dvc_yaml.read_text()))
    if args.check or args.write:
        for name, (missing, extra) in differences(dvc_yaml).items():
            print(f"{name}: missing {missing}, not imported {extra}", file=sys.stderr)
        return 1 if differences(dvc_yaml) else 0
    for name in stages(dvc_yaml):
        print(f"{name}:", *code_deps(name), sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
