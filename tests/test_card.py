"""card/: the model card, read from the pipeline's files; every figure in it is one of theirs, and a
figure they lack is "not recorded" (issue 25)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_ann.card import NOT_RECORDED, render_markdown, workspace_facts
from mnist_ann.card.facts import SEED_RECIPE
from mnist_ann.params import flatten, load_params

REPO = Path(__file__).resolve().parents[1]


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


@pytest.fixture
def workspace(tmp_path):
    """A workspace as the pipeline leaves it: this repository's dvc.lock and random figures in
    metrics/*.json, so that a card that printed anything but the files' figures would show it."""
    rng = np.random.default_rng(7)
    shutil.copy(REPO / "dvc.lock", tmp_path / "dvc.lock")
    (tmp_path / "metrics").mkdir()
    digits = [str(d) for d in range(10)]
    figures = {
        "evaluate": {
            "test_accuracy": float(rng.uniform(0.9, 1)),
            "test_loss": float(rng.uniform(0, 0.3)),
            "precision": {d: float(rng.uniform(0.8, 1)) for d in digits},
            "recall": {d: float(rng.uniform(0.8, 1)) for d in digits},
        },
        "robustness": {name: float(rng.uniform(0.3, 1)) for name in ("shift_3px", "thin", "rendered", "mean")},
        "export": {
            "onnx_test_accuracy": float(rng.uniform(0.9, 1)),
            "max_abs_diff": 3e-6,
            "argmax_agreement": 1.0,
            "images": int(rng.integers(100, 10_000)),
        },
    }
    for name, values in figures.items():
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps(values))
    actual, predicted = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    rows = "".join(f"{a},{p}\n" for a, p in zip(actual, predicted))
    (tmp_path / "metrics" / "test_predictions.csv").write_text("actual,predicted\n" + rows)
    return tmp_path, figures, (actual, predicted)


def test_params_yaml_defaults_are_the_seed_recipe_the_card_compares_with():
    params = flatten(load_params(REPO / "params.yaml"))
    as_lists = {name: list(v) if isinstance(v, tuple) else v for name, v in params.items()}
    assert {name: as_lists[name] for name in SEED_RECIPE} == SEED_RECIPE


def test_the_cards_figures_are_the_files_figures(workspace):
    root, figures, (actual, predicted) = workspace
    card = render_markdown(workspace_facts(root))
    metrics = front_matter(card)["model-index"][0]["results"][0]["metrics"]
    recorded = {m["name"]: m["value"] for m in metrics}
    assert recorded == {
        "test accuracy": figures["evaluate"]["test_accuracy"],
        **{f"robustness {name}": value for name, value in figures["robustness"].items()},
    }
    for digit in map(str, range(10)):
        precision, recall = figures["evaluate"]["precision"][digit], figures["evaluate"]["recall"][digit]
        assert f"| {digit} | {precision:.4f} | {recall:.4f} |" in card
    assert f"({figures['export']['images']} test images scored)" in card
    counts = np.zeros((10, 10), int)
    np.add.at(counts, (actual, predicted), 1)
    assert "| **3** | " + " | ".join(map(str, counts[3])) + " |" in card
    worst = min(figures["evaluate"]["recall"], key=figures["evaluate"]["recall"].get)
    assert f"lowest recall): {worst} (" in card
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    processed = next(o for o in lock["stages"]["preprocess"]["outs"] if o["path"] == "data/processed")
    assert processed["md5"] in card


def test_a_figure_the_files_lack_is_not_recorded_never_a_default(workspace):
    root = workspace[0]
    (root / "metrics" / "robustness.json").unlink()  # a version made before robustness existed
    (root / "metrics" / "export.json").write_text("[1, 2]")  # not the file it should be
    card = render_markdown(workspace_facts(root))
    recorded = front_matter(card)["model-index"][0]["results"][0]["metrics"]
    assert [m["name"] for m in recorded] == ["test accuracy"]
    assert f"| ONNX test accuracy | {NOT_RECORDED} |" in card
    assert f"| all | {NOT_RECORDED} |" in card
    assert "Weakest variants" not in card


def test_params_changed_from_the_seed_come_first_in_bold(workspace):
    root = workspace[0]
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    lock["stages"]["train"]["params"]["params.yaml"]["train"]["epochs"] = 30
    lock_path.write_text(yaml.safe_dump(lock))
    facts = workspace_facts(root)
    assert facts.changed() == {"train.epochs": (5, 30)}
    card = render_markdown(facts)
    assert "Changed from the seed's recipe: `train.epochs`." in card
    table = card.split("| param | this model |", 1)[1]
    assert table.split("\n")[2] == "| **train.epochs** | 30 | 5 |"


def test_a_workspace_without_a_pipeline_run_is_a_card_of_not_recorded(tmp_path):
    card = render_markdown(workspace_facts(tmp_path))
    assert front_matter(card)["model-index"][0]["results"][0]["metrics"] == []
    assert f"| test accuracy | {NOT_RECORDED} |" in card
