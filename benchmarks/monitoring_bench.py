"""Row 11 of `make bench`: what watching each batch costs (issue 39), and what it tells.

- 11a/11b: `mnist-ann predict` on 100,000 images (an .npy, and a folder of PNGs), whole process,
  with the pipeline's model (which carries its monitoring reference) against the same model with
  its metadata removed (scored as before, unwatched), alternating.
- 11c: false alarms on MNIST's own batches, in MNIST's order (one writer's digits come in runs):
  batches of 100 and 1,000 of the held-out test half and of the training set, and of 10,000 of the
  training set; and how far the estimate is from the truth on the held-out half.
- 11d: the drift score, the alarm and the estimate's error on each shifted family: the robustness
  variants of the held-out half, and 2,000 digits drawn by a pen model in hands of their own
  (tests/drawn_digits.py: handwriting that no MNIST writer produced), scored as pictures.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from workload import REPO, predict_command, summary, test_images, timed, write_pngs


def bench_monitoring(workdir: Path, env: dict[str, str], repeats: int) -> dict:
    import numpy as np
    import onnx

    plain = workdir / "unwatched.onnx"
    proto = onnx.load(str(REPO / "models" / "model.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(plain))
    arrays, pngs = workdir / "x100k-monitor.npy", workdir / "pngs-monitor"
    np.save(arrays, test_images(100_000))
    write_pngs(pngs, 100_000)
    figures = {}
    # Whole runs of 0.7 s (the array) and 3.3 s (the PNGs) vary by a tenth of a second or more from
    # one run to the next on a shared machine: as much as the 5% this row checks. So many runs, in
    # adjacent pairs, and the overhead is the median of the pairs' ratios.
    for name, inputs, runs in (("npy_100k", arrays, 3 * repeats), ("pngs_100k", pngs, repeats + 2)):
        watched = predict_command(inputs, workdir / "m.csv")
        unwatched = [*predict_command(inputs, workdir / "u.csv")]
        unwatched[unwatched.index("--model") + 1] = str(plain)
        timed(watched, workdir, env)
        timed(unwatched, workdir, env)
        times: dict[str, list[float]] = {"watched": [], "unwatched": []}
        for _ in range(runs):
            times["watched"].append(timed(watched, workdir, env)[0])
            times["unwatched"].append(timed(unwatched, workdir, env)[0])
        ratios = [w / u for w, u in zip(times["watched"], times["unwatched"])]
        figures[name] = {
            **{k: summary(v) for k, v in times.items()},
            "overhead": round(statistics.median(ratios) - 1, 3),
        }
    return {**figures, **what_it_tells()}


def what_it_tells() -> dict:
    """Rows 11c and 11d, in this process, with the pipeline's model and data."""
    import numpy as np

    from mnist_ann.core.mnist import preprocess
    from mnist_ann.core.monitoring import METADATA_KEY, Reference, Watch
    from mnist_ann.core.onnx_model import OnnxModel
    from mnist_ann.training.data import load_split
    from mnist_ann.training.evaluation.robustness import as_digits, variant_sets

    model = OnnxModel(REPO / "models" / "model.onnx")
    reference = Reference.from_json(model.metadata[METADATA_KEY])
    x_test, y_test = load_split(REPO / "data" / "processed", "test")
    x_train, _ = load_split(REPO / "data" / "processed", "train")
    held_out, truth = x_test[1::2], y_test[1::2]

    def watched(pixels: np.ndarray) -> tuple[Watch, np.ndarray]:
        probabilities, watch = model.predict(pixels), Watch(reference)
        watch.observe(pixels, probabilities)
        return watch, probabilities

    alarms = {}
    for size, sources in ((100, (held_out, x_train)), (1000, (held_out, x_train)), (10_000, (x_train,))):
        batches = [source[i : i + size] for source in sources for i in range(0, len(source) - size + 1, size)]
        drifts = [watched(batch)[0].drift() for batch in batches]
        alarms[str(size)] = {
            "batches": len(batches),
            "alarms": sum(bool(d["alarm"]) for d in drifts),
            "largest_score": round(max(float(d["score"]) for d in drifts), 4),
            "threshold": round(float(drifts[0]["threshold"]), 4),
        }
    watch, probabilities = watched(held_out)
    estimate = {
        "estimated": round(watch.confidence_sum / watch.images, 4),
        "true": round(float((probabilities.argmax(axis=1) == truth).mean()), 4),
    }
    families = {}
    for name, (digits, labels, refused) in variant_sets(as_digits(held_out), truth).items():
        kept = ~refused if refused is not None else np.ones(len(digits), bool)
        watch, probabilities = watched(preprocess(digits[kept]))
        drift = watch.drift()
        families[name] = {
            "images": int(kept.sum()),
            "score": round(float(drift["score"]), 3),
            "alarm": bool(drift["alarm"]),
            "estimated": round(watch.confidence_sum / watch.images, 3),
            "true": round(float((probabilities.argmax(axis=1) == labels[kept]).mean()), 3),
        }
    families["drawn_handwriting"] = _drawn_handwriting(model.path)
    return {"false_alarms": alarms, "estimate_held_out": estimate, "families": families}


def _drawn_handwriting(model: Path) -> dict:
    """11d's family of handwriting from elsewhere: pictures prepared as predict prepares them."""
    sys.path.insert(0, str(REPO / "tests"))
    from drawn_digits import drawn_digits
    from mnist_ann import Predictor

    pairs = drawn_digits(2000, seed=39)
    predictor = Predictor(model)
    predictions = predictor.predict([picture for _, picture in pairs])
    found = predictor.summary(predictions)
    right = sum(p.label == digit for p, (digit, _) in zip(predictions, pairs))
    drift = found["drift"]
    return {
        "images": found["images"],
        "score": round(drift["score"], 3),
        "alarm": drift["alarm"],
        "estimated": round(found["estimated_accuracy"], 3),
        "true": round(right / len(pairs), 3),
    }


def monitoring_rows(k: dict) -> list[tuple[str, str, str, str]]:
    rows = [
        (
            f"11{letter}. monitoring: `mnist-ann predict` on 100,000 {what}, the model with its reference (each batch "
            "watched, monitor.json written) vs the same model without (the median ratio of adjacent runs)",
            f"{k[name]['watched']['median_s']} s",
            f"{k[name]['unwatched']['median_s']} s",
            f"**{100 * k[name]['overhead']:+.1f}%** (target <= +5%)",
        )
        for letter, name, what in (("a", "npy_100k", "images in an .npy"), ("b", "pngs_100k", "PNGs"))
    ]
    f, e = k["false_alarms"], k["estimate_held_out"]
    rows.append(
        (
            "11c. monitoring: false alarms on MNIST's own batches, in its order (largest score against the threshold)",
            "; ".join(
                f"{n}: {a['alarms']} of {a['batches']} ({a['largest_score']} vs {a['threshold']})" for n, a in f.items()
            ),
            f"estimate on the held-out test half {e['estimated']}, truth {e['true']}",
            f"{sum(a['alarms'] for a in f.values())} false alarms",
        )
    )
    shifted = k["families"]
    rows.append(
        (
            "11d. monitoring: shifted families of the held-out half: drift score, alarm, estimate vs truth",
            "; ".join(
                f"{n} {v['score']}{'' if v['alarm'] else ' (no alarm)'} {v['estimated']} vs {v['true']}"
                for n, v in shifted.items()
            ),
            "",
            f"{sum(v['alarm'] for v in shifted.values())} of {len(shifted)} alarms",
        )
    )
    return rows
