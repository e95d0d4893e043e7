"""The errors only `mnist-ann predict` raises, and an error as data that crosses a process boundary."""

from __future__ import annotations

from ..core.errors import MnistAnnError


class InputError(MnistAnnError):
    """One input of `mnist-ann predict` that cannot be scored; the batch goes on without it."""


class ObjectStoreError(MnistAnnError):
    """An object store (s3://) that cannot be reached or refuses: a missing bucket, denied credentials."""


class ClusterError(MnistAnnError):
    """`predict --ray`: the Ray cluster cannot be started or joined, or the job failed on it."""


def error_record(exc: MnistAnnError) -> dict[str, str]:
    """`exc` as data that crosses a process boundary intact (Ray Data hands a worker's raised error
    on as text in its own class): raised again on the other side by `from_record`."""
    return {"class": type(exc).__name__, "message": str(exc)}


def from_record(record: dict[str, str]) -> MnistAnnError:
    """The error that `error_record` described, as its own class (one of MnistAnnError and its direct
    subclasses; any other name comes back as MnistAnnError)."""
    classes: dict[str, type[MnistAnnError]] = {MnistAnnError.__name__: MnistAnnError}
    classes.update((cls.__name__, cls) for cls in MnistAnnError.__subclasses__())
    return classes.get(record["class"], MnistAnnError)(record["message"])
