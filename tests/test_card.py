"""card/: the model card, read from the pipeline's files; every figure in it is one of theirs, and a
figure they lack is "not recorded" (issue 25)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers import run_script
from mnist_ann.core.errors import OutputError
from mnist_ann.training.card import NOT_RECORDED, render_html, render_markdown, workspace_facts, write_card
from mnist_ann.training.card.facts import SEED_RECIPE
from mnist_ann.training.card.html import POLICY
from mnist_ann.training.params import flatten, load_params

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


def card_command(*args, cwd=REPO):
    return run_script("-m", "mnist_ann.cli", "card", *map(str, args), cwd=cwd)


@pytest.mark.heavy
def test_mnist_ann_card_writes_markdown_or_html_by_suffix_without_mlflow_or_tensorflow(workspace, tmp_path):
    root, figures, _ = workspace
    (root / "plots" / "evaluate").mkdir(parents=True)
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1))).save(root / "plots/evaluate/confusion_matrix.png")
    for name in ("card.md", "card.html"):  # -X importtime lists every module the command imported
        done = run_script("-X", "importtime", "-m", "mnist_ann.cli", "card", root, "--output", tmp_path / name)
        assert done.returncode == 0, done.stderr[-2000:]
        imported = {
            line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
        }
        assert "yaml" in imported and not imported & {"mlflow", "tensorflow", "keras"}
    markdown, page = (tmp_path / "card.md").read_text(), (tmp_path / "card.html").read_text()
    assert (
        front_matter(markdown)["model-index"][0]["results"][0]["metrics"][0]["value"]
        == figures["evaluate"]["test_accuracy"]
    )
    assert f"<td>{figures['evaluate']['test_accuracy']:.4f}</td>" in page
    assert page.count("data:image/png;base64,") == 1
    assert not re.search(r"""(src|href)\s*=\s*(?!["']?data:)""", page)  # nothing to load from anywhere


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--output", "card.txt"], "the output must end in .md or .html"),
        (["models:/mnist-ann/1", "--output", "c.md"], "models:/mnist-ann/1: no MLflow store at"),
        (["runs:/0123abcd/onnx_model", "--output", "c.md"], "name a registered version, models:/<name>/<version>"),
        (["models:/mnist-ann/1", "--output", "c.pdf"], "the output must end in .md or .html"),
        (["nowhere", "--output", "c.md"], "not a pipeline workspace"),
    ],
)
def test_a_card_that_cannot_be_written_is_one_line_and_exit_1(tmp_path, args, says):
    done = card_command(*args, cwd=tmp_path)
    assert done.returncode == 1 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.heavy  # a browser is a process
def test_the_html_card_renders_offline_in_headless_chromium(workspace, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): the card is not rendered")
    root, figures, _ = workspace
    page = tmp_path / "card.html"
    page.write_text(render_html(render_markdown(workspace_facts(root))))
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND", "--disable-background-networking", "--disable-quic"]
    quiet = ["--no-first-run", "--disable-component-update", "--disable-sync", "--disable-gpu", "--no-sandbox"]
    common = [chromium, "--headless", *offline, *quiet, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "Model card: mnist-ann (workspace)" in dom and f"{figures['evaluate']['test_accuracy']:.4f}" in dom
    shot = tmp_path / "card.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1000,800", page.as_uri()], capture_output=True, timeout=120
    )
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (800, 1000) and pixels.std() > 10  # drawn, not a blank page


def test_text_from_the_files_is_escaped_in_the_html_card(workspace):
    root = workspace[0]
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    lock["stages"]["train"]["params"]["params.yaml"]["mlflow"]["experiment_name"] = "<script>alert(1)</script>|x"
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    page = render_html(render_markdown(workspace_facts(root)))
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;|x</td>" in page


@pytest.mark.heavy
def test_files_not_shaped_as_the_pipeline_writes_them_give_not_recorded_not_a_traceback(tmp_path):
    """A hand-edited or foreign workspace: wrong types everywhere, a predictions file with digits
    out of range. The card says what it can and "not recorded" for the rest; nothing is guessed."""
    lock = {"stages": {"train": {"params": {"params.yaml": {"train": {"hidden_units": 5}}}}, "preprocess": {"outs": 7}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "metrics").mkdir()
    evaluate = {"precision": 3, "recall": {"0": "x", "1": 0.5}, "test_accuracy": "high", "test_loss": True}
    (tmp_path / "metrics" / "evaluate.json").write_text(json.dumps(evaluate))
    (tmp_path / "metrics" / "robustness.json").write_text('{"thin": "a", "blur": 0.5, "mean": NaN}')
    (tmp_path / "metrics" / "test_predictions.csv").write_text("actual,predicted\n-1,3\n2,2\n")
    done = card_command(tmp_path, "--output", tmp_path / "card.md")
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "card.md").read_text()
    assert [m["name"] for m in front_matter(card)["model-index"][0]["results"][0]["metrics"]] == ["robustness blur"]
    assert f"| test accuracy | {NOT_RECORDED} |" in card and f"| test loss | {NOT_RECORDED} |" in card
    assert f"| 0 | {NOT_RECORDED} | {NOT_RECORDED} |" in card and f"| 1 | {NOT_RECORDED} | 0.5000 |" in card
    assert f"hidden layers {NOT_RECORDED}" in card and "| **train.hidden_units** | 5 | [256, 128, 64, 32] |" in card
    assert "Confusion matrix" not in card and "Changed from the seed's recipe: `train.hidden_units`." in card


# --- registered versions: `mnist-ann card models:/...`, and the version a new one is compared with


def _png_bytes() -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# A page a hostile store might hold as a version's logged card: a script, an outside image, an
# "image" that is no PNG, and one real PNG embedded as render_html embeds them.
HOSTILE_PAGE = (
    '<script>alert(1)</script><img src="https://evil.example/x.png">'
    f'<figure><img alt="fake" src="data:image/png;base64,{base64.b64encode(b"not a png").decode()}"></figure>'
    f'<figure><img alt="Confusion matrix" src="data:image/png;base64,{_png_bytes()}"></figure>'
)


@pytest.fixture
def registry(tmp_path):
    """A real MLflow store in tmp_path/mlflow.db (the one `mnist-ann card` opens from that folder)
    with two versions of mnist-ann: version 1 made before cards existed (its run holds only
    params, metrics and tags, as an older or restored run does), version 2 with the card its
    export logged. Figures random, so that a card retyping any would show it."""
    import mlflow

    from mnist_ann.tracking.versions import card_folder

    rng = np.random.default_rng(11)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("mnist-ann", artifact_location=(tmp_path / "mlartifacts").as_uri())
    client.create_registered_model("mnist-ann")
    runs = []
    for number in (1, 2):
        run_id = client.create_run(
            experiment, tags={"cpu": "a test CPU", "mlflow.source.git.commit": "c0ffee" * 6}
        ).info.run_id
        figures = {"test_accuracy": float(rng.uniform(0.9, 1)), "test_loss": float(rng.uniform(0, 0.3))}
        figures.update({f"recall_{d}": float(rng.uniform(0.8, 1)) for d in range(10)})
        for name, value in figures.items():
            client.log_metric(run_id, name, value)
        client.log_param(run_id, "train.hidden_units", "[64, 32]")
        client.log_param(run_id, "train.epochs", str(number * 5))
        if number == 2:
            logged = {"model_card.md": "# logged card <script>alert(1)</script>\n", "model_card.html": HOSTILE_PAGE}
            for name, text in logged.items():
                client.log_text(run_id, text, f"{card_folder(2)}/{name}")
        client.create_model_version("mnist-ann", f"runs:/{run_id}/onnx_model", run_id)
        runs.append((run_id, figures))
    return tmp_path, client, runs


@pytest.mark.heavy
def test_a_version_made_before_cards_gets_one_from_its_runs_record(registry):
    root, _, runs = registry
    done = card_command("models:/mnist-ann/1", "--output", "c.md", cwd=root)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    card = (root / "c.md").read_text()
    accuracy = runs[0][1]["test_accuracy"]
    assert "\n# Model card: mnist-ann version 1\n" in card  # named as the version, not the workspace
    assert front_matter(card)["model-index"][0]["name"] == "mnist-ann version 1"
    assert front_matter(card)["model-index"][0]["results"][0]["metrics"] == [
        {"type": "accuracy", "name": "test accuracy", "value": accuracy}
    ]
    assert f"| test accuracy | {accuracy:.4f} |" in card and f"| mlflow_run_id | {runs[0][0]} |" in card
    assert f"| all | {NOT_RECORDED} |" in card and f"| ONNX test accuracy | {NOT_RECORDED} |" in card
    assert (
        f"Dense 64 (activation {NOT_RECORDED}) - Dense 32" in card and "| **train.hidden_units** | [64, 32] |" in card
    )
    assert "| cpu | a test CPU |" in card


@pytest.mark.heavy
def test_a_stored_card_is_rendered_again_never_copied_also_by_alias(registry):
    """Issue 37 (8): `card models:/...` wrote the run's logged model_card.html as it was: a hostile
    store's page with `<script>` and outside images, no CSP. The card is now rendered here from the
    run's data (and the logged page gives only its PNG images, each checked)."""
    root, client, runs = registry
    client.set_registered_model_alias("mnist-ann", "champion", "2")
    for uri, output in (("models:/mnist-ann/2", "c.html"), ("models:/mnist-ann@champion", "c.md")):
        done = card_command(uri, "--output", output, cwd=root)
        assert done.returncode == 0, done.stderr
    page, markdown = (root / "c.html").read_text(), (root / "c.md").read_text()
    assert "<script" not in page and "evil.example" not in page and "alert" not in markdown
    assert f'content="{POLICY}"' in page and "# Model card: mnist-ann version 2" in markdown
    assert f"| test accuracy | {runs[1][1]['test_accuracy']:.4f} |" in markdown  # the run's own figure
    assert page.count("data:image/png;base64,") == 1  # the logged page's one real PNG; the fake left behind


@pytest.mark.heavy
def test_a_logged_card_comes_back_as_its_export_rendered_it(registry, tmp_path):
    """The facts an export logs (card_facts.json, with the version it was compared with) and its
    page's images give back the very page it logged."""
    from mnist_ann.tracking.versions import card_folder
    from mnist_ann.training.card import card_files, workspace_facts

    root, client, runs = registry
    workspace = tmp_path / "workspace"
    (workspace / "metrics").mkdir(parents=True)
    shutil.copy(REPO / "dvc.lock", workspace / "dvc.lock")
    (workspace / "plots" / "evaluate").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(workspace / "plots" / "evaluate" / "confusion_matrix.png")
    facts = workspace_facts(workspace, title="mnist-ann version 1")
    baseline = workspace_facts(workspace, title="mnist-ann version 0")
    logged = card_files(facts, workspace, baseline)
    for name, text in logged.items():
        client.log_text(runs[0][0], text, f"{card_folder(1)}/{name}")
    done = card_command("models:/mnist-ann/1", "--output", "again.html", cwd=root)
    assert done.returncode == 0, done.stderr
    assert (root / "again.html").read_text() == logged["model_card.html"] and "Against mnist-ann version 0" in logged[
        "model_card.md"
    ]


@pytest.mark.heavy
@pytest.mark.parametrize("uri", ["models:/mnist-ann/9", "models:/mnist-ann@nobody", "models:/other/1"])
def test_an_unknown_version_is_one_line_and_exit_1(registry, uri):
    root = registry[0]
    done = card_command(uri, "--output", "c.md", cwd=root)
    assert done.returncode == 1 and f"card: {uri}: not found in the MLflow store" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (root / "c.md").exists()


@pytest.mark.heavy
def test_a_new_version_is_compared_with_the_champion_else_the_version_before_it(registry):
    from mnist_ann.tracking.versions import baseline_record
    from mnist_ann.training.card import render_markdown, version_facts

    _, client, runs = registry
    client.create_model_version("mnist-ann", f"runs:/{runs[1][0]}/onnx_model", runs[1][0])  # version 3
    assert baseline_record(client, "mnist-ann", "1") is None
    assert baseline_record(client, "mnist-ann", "3").run_id == runs[1][0]  # no champion: the newest before it
    client.set_registered_model_alias("mnist-ann", "champion", "1")
    baseline = baseline_record(client, "mnist-ann", "3")
    assert baseline.title == "mnist-ann version 1" and baseline.run_id == runs[0][0]
    client.set_registered_model_alias("mnist-ann", "champion", "3")  # a version is not compared with itself
    assert baseline_record(client, "mnist-ann", "3").title == "mnist-ann version 2"

    new = version_facts(baseline_record(client, "mnist-ann", "3"))  # version 2's figures ...
    old = version_facts(baseline)
    card = render_markdown(new, old)
    (accuracy, loss), (old_accuracy, old_loss) = ([f[n] for n in ("test_accuracy", "test_loss")] for _, f in runs[::-1])
    change = round(accuracy - old_accuracy, 4)
    verdict = "better" if change > 0 else "worse"
    assert f"| test accuracy | {accuracy:.4f} | {old_accuracy:.4f} | **{change:+.4f}** ({verdict}) |" in card
    loss_verdict = "better" if loss < old_loss else "worse"  # lower loss is the better one
    assert (
        f"| test loss | {loss:.4f} | {old_loss:.4f} | **{round(loss - old_loss, 4):+.4f}** ({loss_verdict}) |" in card
    )
    assert "Params that differ: `train.epochs` 5 → 10." in card


def test_the_stored_facts_come_back_as_they_went_and_tampered_ones_as_not_recorded(workspace):
    from mnist_ann.training.card.stored import facts_json, stored_facts

    facts = workspace_facts(workspace[0])
    assert stored_facts(facts_json(facts)) == facts
    tampered = json.loads(facts_json(facts))
    tampered.update(metrics={"evaluate": "high", "robustness": {"thin": "x"}}, confusion=[[1] * 10] * 9, data=3)
    back = stored_facts(json.dumps(tampered))
    assert back.figure("evaluate", "test_accuracy") is None and back.metrics["robustness"] == {}
    assert back.confusion is None and back.data == [] and back.params == facts.params
    assert stored_facts("[1]") is None and stored_facts("not json") is None


def test_a_card_never_replaces_a_symbolic_link_or_a_folder(tmp_path):
    """Issue 37 (3): a symbolic link as `card --output` became a plain file, its target untouched."""
    (tmp_path / "kept.md").write_text("someone's notes")
    (tmp_path / "link.md").symlink_to(tmp_path / "kept.md")
    (tmp_path / "folder.html").mkdir()
    files = {"model_card.md": "# a card", "model_card.html": "<p>a card</p>"}
    with pytest.raises(OutputError, match=r"link.md: is a symbolic link \(to .*kept.md\); refusing to replace it"):
        write_card(files, tmp_path / "link.md")
    with pytest.raises(OutputError, match=r"folder.html: exists and is not a regular file; refusing to replace it"):
        write_card(files, tmp_path / "folder.html")
    assert (tmp_path / "link.md").is_symlink() and (tmp_path / "kept.md").read_text() == "someone's notes"
    write_card(files, tmp_path / "new.md")
    assert (tmp_path / "new.md").read_text() == "# a card"


def test_workspace_files_that_are_not_the_pipelines_are_not_recorded_and_never_embedded(workspace):
    """Issue 37 (7, 14, 16): a plot linked to a credentials file was embedded, base64, in the HTML
    card; a metrics file linked to a FIFO hung the card; a 200 KB field in test_predictions.csv was a
    csv.Error traceback. Each is now read as not recorded (or left out), at once."""
    import os
    import time

    from mnist_ann.training.card.output import workspace_images

    root, figures, _ = workspace
    (root / "plots" / "evaluate").mkdir(parents=True)
    (root / "plots" / "train").mkdir(parents=True)
    secret = root / "credentials"
    secret.write_text("aws_secret_access_key = hunter2\n")
    (root / "plots" / "evaluate" / "mistakes.png").symlink_to(secret)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "plots" / "evaluate" / "confusion_matrix.png")
    os.mkfifo(root / "fifo")
    (root / "metrics" / "evaluate.json").unlink()
    (root / "metrics" / "evaluate.json").symlink_to(root / "fifo")
    (root / "plots" / "train" / "accuracy.png").symlink_to(root / "fifo")
    (root / "metrics" / "test_predictions.csv").write_text("actual,predicted\n" + "1," + "7" * 200_000 + "\n")
    (root / "metrics" / "export.json").write_text("[" * 100_000 + "]" * 100_000)  # nesting past the recursion limit
    started = time.monotonic()
    images = workspace_images(root)
    card = render_markdown(workspace_facts(root))
    assert time.monotonic() - started < 10  # nothing waited on the FIFO
    assert list(images) == ["Confusion matrix on the test set"]  # the credentials and the FIFO left out
    assert "hunter2" not in card and "test accuracy | not recorded" in card.lower().replace("**", "")
    assert f"{figures['robustness']['mean']:.4f}" in card  # the files that are the pipeline's still read


def test_text_from_files_is_shown_as_text_never_as_markup(workspace):
    """Issue 37 (9): workspace text entered the card as it was: raw HTML in the Markdown, a param
    value with line breaks added a fake "Intended use" section, a metric name ending in `---` ended
    the front matter early. Each is now one line of literal text, in the Markdown and in the page."""
    root, figures, _ = workspace
    hostile = "<img src=x onerror=alert(1)> ---\n---\n## Intended use\n\nanything | goes `here`"
    robustness = {**figures["robustness"], hostile: 0.5}
    (root / "metrics" / "robustness.json").write_text(json.dumps(robustness))
    facts = workspace_facts(root, {"git.changed": "notes.md\n## Intended use\n<script>alert(1)</script>"})
    markdown = render_markdown(facts)
    page = render_html(markdown)
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    sections = ["What it is", "Intended use", "Data", "Figures", "Where it fails", "Compared with", "Lineage"]
    assert headings == ["# Model card: mnist-ann (workspace)", *(f"## {s}" for s in sections)], headings
    body = markdown.split("\n---\n", 1)[1]  # the front matter is data (YAML), the body is rendered
    assert not re.search(r"(?<!\\)<(img|script)", body)  # a tag only escaped (`\<img`): text, not HTML
    assert "<img" not in page and "<script" not in page
    matter = front_matter(markdown)
    names = [m["name"] for m in matter["model-index"][0]["results"][0]["metrics"]]
    assert "robustness <img src=x onerror=alert(1)> --- --- ## Intended use anything | goes `here`" in names
    # the page shows the text itself: the escapes are undone, once, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "anything | goes `here`" in page
    assert page.index("<h2>What it is</h2>") > page.index("<body>")  # the front matter did not leak into the body
    assert f"| shift_3px | {figures['robustness']['shift_3px']:.4f} |" in markdown  # plain names read as they are


@pytest.mark.heavy
def test_the_workspace_cards_lineage_is_the_training_runs_found_by_the_models_sha256(trained, tmp_path):
    """Issue 38: the workspace card described the process that wrote it (its commit, its CPU), not
    the run that trained the model. Found by the sha256 of models/model.keras, it is that run's."""
    run = trained.client.get_run(trained.run_id)
    store = {"MLFLOW_TRACKING_URI": trained.client.tracking_uri}
    done = run_script("-m", "mnist_ann.cli", "card", trained.workdir, "--output", tmp_path / "c.md", env=store)
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "c.md").read_text()
    assert f"| mlflow_run_id | {trained.run_id} |" in card
    assert f"| python | {run.data.tags['python']} |" in card and f"| cpu | {run.data.tags['cpu']} |" in card
    empty = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'other.db'}"}  # a store that did not train it
    done = run_script("-m", "mnist_ann.cli", "card", trained.workdir, "--output", tmp_path / "d.md", env=empty)
    assert done.returncode == 0, done.stderr
    assert (
        "| mlflow_run_id | none (no run of this store trained models/model.keras): the lineage is the"
        in (tmp_path / "d.md").read_text()
    )


def test_each_image_is_shown_in_the_section_it_illustrates(workspace):
    """Issue 42: every image came after Lineage, the page's last section. The curves, the confusion
    matrix and the sample go in Figures, the most confident mistakes in Where it fails; an image of
    another caption (a card stored by an older version) at the end."""
    from mnist_ann.training.card.html import IMAGE_SECTIONS

    png = io.BytesIO()
    Image.new("L", (4, 4), 128).save(png, format="PNG")
    images = {caption: png.getvalue() for caption in [*IMAGE_SECTIONS, "A figure of an older card"]}
    page = render_html(render_markdown(workspace_facts(workspace[0])), images)
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"<h2>([^<]+)</h2>", page)]

    def section_at(position: int) -> str:
        return [name for start, name in headings if start < position][-1]

    for caption in images:
        (at,) = [m.start() for m in re.finditer(f'<img alt="{re.escape(caption)}"', page)]
        expected = IMAGE_SECTIONS.get(caption, headings[-1][1])
        assert section_at(at) == expected, (caption, section_at(at))
    # at the end of its section: no block of the section's own text after the figures
    figures_end = page.index("</div>", page.index('<img alt="Accuracy per epoch"'))
    assert page.index("<h2>Where it fails</h2>") > figures_end > page.index("<h2>Figures</h2>")
