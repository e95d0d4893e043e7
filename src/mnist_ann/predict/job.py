"""One `mnist-ann predict` run: the inputs found, scored with a Predictor (here, or on a Ray
cluster), the rows written to the output (a file, or with --ray a shard folder), the errors file and
the batch's summary (monitor.json)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import OutputError
from ..core.monitoring import Watch
from ..core.process import EXIT_DRIFT, EXIT_OK, EXIT_SOME_FAILED
from . import objects
from .errors import InputError
from .inputs.discovery import Input, discover
from .inputs.images.pool import ImageDecoder
from .model_source import model_file
from .monitor import Watched, model_description, unmonitored, watch_for
from .outputs.destinations import check_destination, errors_location, prediction_output, summary_location
from .outputs.prepared import PreparedFolder, check_prepared_folder, prepared_folder
from .outputs.shards import is_folder_output, shard_folder
from .outputs.spec import ERRORS_NAME, MONITOR_NAME, STDOUT, OutputSpec
from .predictor import Predictor
from .progress import ProgressBar, expected_images
from .scoring import Outcome, score_inputs, start_decoding
from .settings import BatchSettings

log = logging.getLogger("mnist-ann")


@dataclass(frozen=True)
class Job:
    """What one predict run does, as its options say."""

    inputs: Sequence[str]  # files and folders, as named
    output: str  # a file; with `ray`, a folder when it ends with a slash or is one
    model: str | None = None  # an .onnx file or an MLflow URI; None: the pipeline's export
    spec: OutputSpec = OutputSpec()  # the rows' format and columns
    settings: BatchSettings = field(default_factory=BatchSettings)
    ray: str | None = None  # a Ray cluster's address (or auto); None: this machine
    save_prepared: str | None = None  # a new folder for the 28x28 digit of each image file
    fail_on_drift: bool = False  # exit EXIT_DRIFT on the monitoring's alarm
    int8: bool = False  # the int8 model of the export, or of the registered version `model` names

    @property
    def to_folder(self) -> bool:
        return self.ray is not None and is_folder_output(self.output)


def run_job(job: Job) -> int:
    """Run `job`; its exit code: 0 every input scored, 2 some could not be (each one logged and listed
    in the errors file). A model or output that cannot be used raises before any row is written."""
    for option, value in (("--save-prepared", job.save_prepared), ("--min-confidence", job.spec.min_confidence)):
        if value is not None and job.ray is not None:
            raise OutputError(f"{option} works on this machine: it cannot be used with --ray")
    if job.save_prepared is not None:
        check_prepared_folder(job.save_prepared)
    inputs, missing = discover(job.inputs)
    if not inputs:  # exit 2 and an empty output would say that some inputs were scored
        raise InputError(f"nothing to score: {_nothing_found(job.inputs, missing)}")
    for source, reason in missing:
        log.warning("skipped %s: %s", source, reason)
    # On this machine the image files start decoding now, on every core, while the model loads.
    decoding = start_decoding(inputs, job.settings) if job.ray is None else contextlib.nullcontext()
    with decoding as decoder, model_file(job.model, int8=job.int8) as path:
        if not job.to_folder:
            check_destination(job.output, [item.path for item in inputs], path, fmt=job.spec.fmt)
        preparation = job.settings.preparation
        predictor = Predictor(path, background=preparation.background, frame=preparation.frame)
        watch = watch_for(predictor.model)
        model = model_description(predictor.model, f"{job.model} --int8" if job.int8 and job.model else job.model)
        scorer = _Scorer(job, predictor, inputs, decoder, path.read_bytes() if job.ray is not None else b"", watch)
        outcome, errors_file, summary = _write(job, scorer, missing, model)
        summary_file = _summary_location(job)
    errors = missing + outcome.errors
    written = "standard output" if job.output == STDOUT else job.output
    log.info("scored %d images from %d inputs into %s", outcome.scored, len(inputs), written)
    _said_several(outcome.several)
    if errors:
        listed = f"in {errors_file}" if errors_file else "above"
        log.warning("%d inputs could not be scored; listed %s", len(errors), listed)
    if job.model is not None and str(job.model).startswith("models:/") and summary.get("drift"):
        from ..tracking import repo_root
        from ..tracking.batches import record_batch

        record_batch(str(job.model), summary, repo_root())
    drifted = _said_drift(summary_file, summary, watch)
    if drifted and job.fail_on_drift:
        return EXIT_DRIFT
    return EXIT_SOME_FAILED if errors else EXIT_OK


def _said_several(several: int) -> None:
    """One line where pictures held more than one digit-sized mark (a number, not a digit)."""
    if several:
        log.warning(
            "%d picture%s held more than one digit-sized mark, and each was read as one digit: their "
            "`prepared` ends -marks (and --min-confidence marks them uncertain)",
            several,
            "s" if several != 1 else "",
        )


def _summary_location(job: Job) -> str | Path | None:
    """Where the batch's summary was written: beside the output file, in the output folder; None
    for standard output."""
    if job.output == STDOUT:
        return None
    return objects.join(job.output, MONITOR_NAME) if job.to_folder else summary_location(job.output)


def _said_drift(summary_file: str | Path | None, summary: dict[str, Any], watch: Watch | str) -> bool:
    """Whether the batch drifted; if so, one warning line saying so and where the summary is. A
    batch that could not be monitored is said in one line too, and so is the summary of one whose
    rows went to standard output."""
    if isinstance(watch, str):
        log.info("nothing about this batch can be monitored: %s", watch)
        return False
    drift = summary.get("drift") or {}
    if summary_file is None and drift:  # standard output: no file beside the rows
        log.info(
            "batch summary (no file beside standard output): %d images, estimated accuracy %.4f, "
            "drift score %.4f, threshold %.4f, alarm %s",
            summary["images"],
            summary["estimated_accuracy"],
            drift["score"],
            drift["threshold"],
            "yes" if drift["alarm"] else "no",
        )
    if not drift.get("alarm"):
        return False
    where = "" if summary_file is None else f"; see {summary_file}"
    log.warning(
        "drift: this batch is unlike the images the model was checked on (score %.3f over %.3f for %d images); "
        "its estimated accuracy %.2f is a guess%s",
        drift["score"],
        drift["threshold"],
        summary["images"],
        summary["estimated_accuracy"],
        where,
    )
    return True


def _nothing_found(named: Sequence[str], missing: list[tuple[str, str]]) -> str:
    """Why no input was found: the first few reasons, or that the folders hold no such files."""
    if not missing:
        return f"no image or array files in {', '.join(named)}"
    more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
    return "; ".join(f"{source}: {reason}" for source, reason in missing[:3]) + more


def _write(
    job: Job, scorer: _Scorer, missing: list[tuple[str, str]], model: dict[str, str]
) -> tuple[Outcome, str | Path | None, dict[str, Any]]:
    """Score into the output and the files beside it: the outcome, where the errors were listed,
    and the batch's summary (empty where none was made)."""
    watch = scorer.watch
    images = expected_images(scorer.inputs, job.settings.npz_key) if sys.stderr.isatty() else None
    with ProgressBar(len(scorer.inputs), images) as progress:
        if job.to_folder:
            sources = [item.path for item in scorer.inputs]
            with shard_folder(job.output, job.spec, sources) as (shards, errors):
                outcome = scorer.score(shards, progress)
                errors += missing + outcome.errors
                shards.summary = _summary(outcome, model, watch)
            return outcome, objects.join(job.output, ERRORS_NAME) if errors else None, shards.summary
        failed, summary = list(missing), {}  # type: tuple[list[tuple[str, str]], dict[str, Any]]
        with (
            prepared_folder(job.save_prepared) as prepared,
            prediction_output(job.output, job.spec, failed, summary) as writer,
        ):
            outcome = scorer.score(writer, progress, prepared)
            failed += outcome.errors
            summary.update(_summary(outcome, model, watch))
        return outcome, errors_location(job.output) if failed else None, summary


def _summary(outcome: Outcome, model: dict[str, str], watch: Watch | str) -> dict[str, Any]:
    return unmonitored(outcome.scored, model, watch) if isinstance(watch, str) else watch.summary(model)


@dataclass
class _Scorer:
    """The inputs and the Predictor of a job, scored into a writer here or on a Ray cluster."""

    job: Job
    predictor: Predictor
    inputs: list[Input]
    decoder: ImageDecoder | None  # the images decoding on this machine's workers (None with --ray)
    model_bytes: bytes  # for --ray: what every actor builds its session from; read while the file exists
    watch: Watch | str = ""  # takes in every image scored (here, or merged from the Ray actors); or why not

    def score(self, writer, progress: Callable[[int], None], prepared: PreparedFolder | None = None) -> Outcome:
        if self.job.ray is None:
            watch, plain = self.watch, self.predictor.model
            model = plain if isinstance(watch, str) else Watched(plain, watch)
            settings = self.job.settings
            return score_inputs(
                model, self.inputs, writer, settings, progress=progress, decoder=self.decoder, prepared=prepared
            )
        from .cluster.driver import ClusterJob, score_on_ray

        cluster = ClusterJob(self.model_bytes, str(self.predictor.model.path), self.job.settings, self.job.ray)
        watched = None if isinstance(self.watch, str) else self.watch
        outcome = score_on_ray(cluster, self.inputs, writer, progress=progress, watch=watched)
        log.info("images per Ray node: %s", ", ".join(f"{node[:8]} {n}" for node, n in outcome.images_by_node.items()))
        return outcome
