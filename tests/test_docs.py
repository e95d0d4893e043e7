"""The documentation: a short README that lists every docs/ page, pages that open with their contents,
exit codes that match the code, a Python example that runs, and no command that nothing exercises."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import REPO, font_digits
from mnist_ann.core.process import EXIT_CODES

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = REPO / "README.md"
sys.path.insert(0, str(REPO / "tools"))  # docs_pictures


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.M | re.S)


def test_the_readme_is_a_short_landing_page_that_lists_every_docs_page():
    text = README.read_text()
    assert len(text.encode()) < 10_000
    listed = set(re.findall(r"\]\(docs/([\w-]+\.md)", text))
    assert listed == {page.name for page in PAGES}


def test_every_page_opens_with_its_contents():
    for page in PAGES:
        text = page.read_text()
        headings = re.findall(r"^## (.+)$", text, flags=re.M)
        contents = re.findall(r"^- \[(.+?)\]\(#([\w-]+)\)$", text.split("\n## ", 1)[0], flags=re.M)
        assert [title for title, _ in contents] == headings, page.name
        for title, anchor in contents:
            assert anchor == re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-"), (page.name, title)


def test_links_between_pages_point_at_pages_that_exist():
    for page in [README, *PAGES]:
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", page.read_text()):
            assert (page.parent / target).is_file(), (page.name, target)


def test_the_exit_codes_are_the_codes_in_one_table():
    table = re.findall(r"^\| (\d+) \| (.+) \|$", (DOCS / "errors.md").read_text(), flags=re.M)
    assert {int(code): meaning for code, meaning in table} == EXIT_CODES


@pytest.mark.heavy
def test_the_python_examples_run(exported, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.onnx").write_bytes(exported[1].read_bytes())
    (tmp_path / "scans").mkdir()
    Image.fromarray(255 - font_digits()[3]).save(tmp_path / "scans" / "0001.png")
    Image.fromarray(255 - font_digits()[4]).save(tmp_path / "scans" / "0002.jpg", quality=95)
    (tmp_path / "docs" / "images").mkdir(parents=True)
    (tmp_path / "docs" / "images" / "number.png").write_bytes((DOCS / "images" / "number.png").read_bytes())
    examples = code_blocks(DOCS / "predict.md", "python") + code_blocks(README, "python")
    assert len(examples) == 4
    outputs = [
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True) for code in examples
    ]
    assert [o.returncode for o in outputs] == [0, 0, 0, 0], [o.stderr[-1000:] for o in outputs]
    first, summary, second = outputs[0].stdout.splitlines(), outputs[2].stdout.split(), outputs[3].stdout.split()
    # the numbers' example: this tiny model's digits may be wrong, but there are four, as in the photo
    source, label, *_ = outputs[1].stdout.split()
    assert source == "docs/images/number.png" and len(label) == 4 and label.isdigit(), outputs[1].stdout
    assert summary == ["2", "False"]  # this model carries no monitoring reference
    assert [line.split()[0] for line in first] == ["scans/0001.png", "scans/0002.jpg"]
    assert all(line.split()[3] == "mnist/light" and line.split()[4] == "None" for line in first)
    assert second == [first[0].split()[1]]  # the README's label is the page's


def test_the_pictures_of_numbers_are_what_predict_prepares_today():
    """docs/predict.md shows a photo of a number and the digits predict prepared from it, in both
    modes (tools/docs_pictures.py made them): a change to the preparation must show there."""
    import docs_pictures

    photo = np.asarray(Image.open(DOCS / "images" / "number.png"))
    for name, picture in docs_pictures.prepared_pictures(photo).items():
        shown = np.asarray(Image.open(DOCS / "images" / name))
        assert np.array_equal(shown, picture), f"docs/images/{name}: run tools/docs_pictures.py"
    assert docs_pictures.prepared_pictures(photo)["number-digits.png"].shape[1] == 4 * 28 * 4 + 3 * 8  # four digits


def test_every_command_in_the_docs_is_exercised_by_a_test_or_make():
    """Each shell command of README.md and docs/ (its program and first word after it) appears in a
    test or in the Makefile: a command whose feature went away fails here, not in a user's shell."""
    exercised = "\n".join(p.read_text() for p in [*(REPO / "tests").glob("*.py"), REPO / "Makefile"])
    missing = []
    for page in [README, *PAGES]:
        for block in code_blocks(page, "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"<[^>]*>", "X", line.split("#", 1)[0])  # placeholders: <head address>
                words = [w for w in shlex.split(command) if not re.match(r"^\w+=", w)]  # less VAR=value
                if not words or words[0] in ("git", "curl", "cd"):  # not ours: git's, curl's, the shell's
                    continue
                program, first = Path(words[0]).name, words[1] if len(words) > 1 else ""
                said = re.search(rf"\b{re.escape(program)}\b", exercised) and (
                    not first or f'"{first}"' in exercised or f" {first}" in exercised
                )
                if not said:
                    missing.append(f"{page.name}: {line.strip()}")
    assert missing == []
