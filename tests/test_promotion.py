"""promotion.py: the gate a new version passes to become the champion. Paired figures from per-image
results (the statistics themselves: test_paired.py), a floor for the first
champion, and refusals for a clearly worse, a worse-on-a-variant and a much slower model, each
said in figures; an equal or better model passes."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_ann.training.evaluation.paired import Measured
from mnist_ann.training.promotion import Rules, decide, paired_figures

RULES = Rules(min_test_accuracy=0.95, accuracy_margin=0.005, confidence=0.95, variant_margin=0.02, max_slowdown=3.0)
VARIANTS = {"blur": 0.9, "thin": 0.8}


def scores(wrong: list[int], n: int = 10_000, variants=VARIANTS, seconds: float = 1e-6) -> Measured:
    """A model that reads every test image right but `wrong`, and each variant's pictures to the accuracy given."""
    labels = np.arange(n) % 10
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % 10
    variant_correct = {name: np.arange(1000) < accuracy * 1000 for name, accuracy in variants.items()}
    return Measured(np.eye(10)[predicted], labels, variant_correct, seconds)


def test_paired_figures_count_the_images_only_one_model_gets_right():
    champion, candidate = np.array([1, 1, 0, 0, 1, 1], bool), np.array([1, 0, 1, 1, 1, 1], bool)
    figures = paired_figures(candidate, champion, 0.95)
    assert (figures["champion_only"], figures["candidate_only"]) == (1, 2)
    assert figures["difference"] == pytest.approx(1 / 6)
    assert figures["low"] < figures["difference"] < figures["high"]
    same = paired_figures(champion, champion, 0.95)
    assert same["difference"] == same["low"] == same["high"] == 0 and same["mcnemar_p"] == 1.0


def test_the_first_champion_needs_only_the_floor():
    assert decide(scores(list(range(300))), None, RULES).tag.startswith("promoted: the first champion: test accuracy")
    refused = decide(scores(list(range(600))), None, RULES)
    assert not refused.promoted and refused.tag == "refused: test accuracy 0.9400 is below the floor 0.95"


def test_an_equal_or_better_model_is_promoted_and_says_why_in_figures():
    champion = scores(list(range(310)))
    for candidate in (scores(list(range(310))), scores(list(range(200)))):
        decision = decide(candidate, champion, RULES, "version 1")
        assert decision.promoted, decision.reason
        assert "vs 0.9690 (version 1)" in decision.reason and "McNemar p=" in decision.reason
    assert "[95% CI +0.0000, +0.0000]" in decide(scores(list(range(310))), champion, RULES).reason


def test_a_clearly_worse_model_is_refused_with_its_figures():
    """As a one-epoch run against the five-epoch seed: 0.9584 against 0.9690."""
    decision = decide(scores(list(range(416))), scores(list(range(310))), RULES, "version 1")
    assert not decision.promoted
    said = "refused: test accuracy may be more than 0.005 below: test accuracy 0.9584 vs 0.9690"
    assert decision.tag.startswith(said)
    assert decision.figures["champion_only"] == 106 and decision.figures["mcnemar_p"] < 1e-20


def test_worse_on_a_variant_or_much_slower_is_refused_though_as_accurate():
    champion = scores(list(range(310)))
    worse_variant = scores(list(range(310)), variants={**VARIANTS, "thin": 0.7})
    decision = decide(worse_variant, champion, RULES)
    assert not decision.promoted and decision.reason.startswith("thin more than 0.02 below")
    slower = scores(list(range(310)), seconds=3.5e-6)
    decision = decide(slower, champion, RULES)
    assert not decision.promoted and decision.reason.startswith("more than 3x slower") and "3.50x" in decision.reason
    assert decide(scores(list(range(310)), seconds=2.3e-6), champion, RULES).promoted  # the robust model's cost


@pytest.mark.heavy
def test_promote_applies_the_gate_by_hand_records_it_and_force_is_said(trained, tmp_path):
    """`mnist-ann promote models:/NAME/N` on a copy of the session's store (the copy's aliases and
    tags are its own): refused (exit 1, one line, the reason in figures, no champion), then forced
    (exit 0, the champion, the tag says it was forced), then refused as the champion already."""
    import sqlite3

    import mlflow

    from helpers import run_script, write_params

    store = tmp_path / "mlflow.db"
    with (
        sqlite3.connect(trained.client.tracking_uri.removeprefix("sqlite:///")) as source,
        sqlite3.connect(store) as copy,
    ):
        source.backup(copy)
    versions = mlflow.MlflowClient(f"sqlite:///{store}").search_model_versions("name='mnist-ann'")
    (version,) = [v.version for v in versions if v.run_id == trained.run_id]
    uri, env = f"models:/mnist-ann/{version}", {"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    params = write_params(
        tmp_path / "params.yaml", {"promote.min_test_accuracy": 1.0}, base=trained.workdir / "params.yaml"
    )
    data = trained.workdir / "data" / "processed"

    def promote(*extra):
        return run_script(
            "-m",
            "mnist_ann.cli",
            "promote",
            uri,
            "--params",
            params,
            "--data",
            data,
            *extra,
            cwd=trained.workdir,
            env=env,
        )

    refused = promote()
    (line,) = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and line.startswith(f"error: {uri}: refused: test accuracy ")
    assert line.endswith(" is below the floor 1")
    tag, aliases = promotion_state(store, version)
    assert not aliases and tag == line.removeprefix(f"error: {uri}: ")
    forced = promote("--force")
    assert forced.returncode == 0, forced.stderr
    tag, aliases = promotion_state(store, version)
    assert tag.startswith("promoted: forced by hand over the gate, which said: refused: test accuracy")
    assert forced.stdout == f"{uri}: {tag}\n" and aliases == {"champion": str(version)}
    again = promote()
    assert again.returncode == 1 and again.stderr.strip() == f"error: promote: {uri} is the champion already"


def promotion_state(store, version) -> tuple[str, dict[str, str]]:
    """(the version's promotion tag, the model's aliases) read afresh from the SQLite store: the
    test's own MlflowClient holds a pooled connection whose snapshot predates the command's writes."""
    import sqlite3

    with sqlite3.connect(store) as db:
        (tag,) = db.execute(
            "SELECT value FROM model_version_tags WHERE name = 'mnist-ann' AND version = ? AND key = 'promotion'",
            (int(version),),
        ).fetchone()
        aliases = dict(db.execute("SELECT alias, version FROM registered_model_aliases WHERE name = 'mnist-ann'"))
    return tag, {alias: str(number) for alias, number in aliases.items()}
