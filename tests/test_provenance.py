"""provenance.py: where a run came from, as tags: git commit, DVC experiment, data hash, versions,
CPU; reading them never fails."""

from __future__ import annotations

from mnist_ann.provenance import data_hash, provenance_tags


def test_provenance_tags(tmp_path, monkeypatch):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  preprocess:\n    outs:\n    - path: data/processed\n      md5: abc123.dir\n"
    )
    monkeypatch.setenv("DVC_EXP_NAME", "bold-cat")
    tags = provenance_tags(tmp_path)
    assert data_hash(tmp_path) == "abc123.dir" and tags["data.md5"] == "abc123.dir"
    assert tags["dvc.experiment"] == "bold-cat"
    assert tags["version.keras"].startswith("3.") and tags["version.mlflow"]
    assert "cores)" in tags["cpu"]
    assert "mlflow.source.git.commit" not in tags  # tmp_path is no git checkout
