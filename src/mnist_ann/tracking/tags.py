"""The names of the tags this project puts on MLflow runs and registered versions, in one place:
whatever writes a tag (the train stage's provenance and lineage, the tracking door) and whatever
reads it (a version's description, the model card) spells it here."""

from __future__ import annotations

# On a run: where it came from (training/provenance.py writes them, after the stage harness pinned
# the numerics they describe)
GIT_COMMIT = "mlflow.source.git.commit"  # MLflow's own name: its UI shows and links it
GIT_DIRTY = "git.dirty"  # "true" when code or config differ from the commit
GIT_CHANGED = "git.changed"  # the files that differ
GIT_DIFF_MD5 = "git.diff.md5"
DVC_EXPERIMENT = "dvc.experiment"  # the DVC experiment's name; absent for a plain `dvc repro`
DATA_MD5 = "data.md5"
CPU, NUMERICS, PYTHON = "cpu", "numerics", "python"
VERSION_PREFIX = "version."  # version.<package>
# What a run changed against the committed params (training/lineage.py)
PARAMS_CHANGED = "params.changed"
NOTE = "mlflow.note.content"  # MLflow's own name: the run's description
# The tracking door's own bookkeeping
RESTORED = "mnist_ann.restored"  # what a restored run holds and where it came from
# The sha256 of the .keras file the train stage wrote (or whose record a run restored): how evaluate
# and export find the pipeline's run, with nothing machine-specific (a run id) in dvc.lock
MODEL_SHA256 = "mnist_ann.model_sha256"
OWNER_HOST, OWNER_PID = "mnist_ann.host", "mnist_ann.pid"  # the process that holds a run open
# On a registered version (tracking/registry.py), read from its run's tags
VERSION_GIT_COMMIT = "git.commit"
NO_EXPERIMENT = "none (dvc repro)"  # what a version or a card says where the run had no DVC experiment


def completed(stage: str) -> str:
    """The tag that says `stage` finished its part of the pipeline's run."""
    return f"mnist_ann.completed.{stage}"
