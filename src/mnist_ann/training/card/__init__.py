"""The model card of a trained model (issue 25): what it is, what it is for, what data made it, how
it does (on MNIST, on each digit, on digits people write), where it fails and where it came from.

  facts     what the card says, read from the pipeline's files: dvc.lock and metrics/*.json; every
            figure the files lack is None, shown as "not recorded", never a default
  markdown  the card as Markdown with Hugging Face-style YAML metadata (`model-index`)
  html      the same card as one self-contained page: images inlined, nothing loaded from elsewhere
  stored    the facts as a run keeps them (card_facts.json), or read from its params, metrics, tags
  comparison  the "Compared with" section: this model against the version it would replace
  output    a card written to a .md or .html file (`mnist-ann card`), and a version's card files

Nothing here imports TensorFlow or MLflow: a card of the workspace needs neither.
"""

from .facts import NOT_RECORDED, CardFacts, workspace_facts
from .html import render_html
from .markdown import render_markdown
from .output import card_files, card_suffix, version_card_files, write_card, write_workspace_card
from .stored import run_facts, run_lineage, version_facts

__all__ = [
    "NOT_RECORDED",
    "CardFacts",
    "card_files",
    "card_suffix",
    "render_html",
    "render_markdown",
    "run_facts",
    "run_lineage",
    "version_card_files",
    "version_facts",
    "workspace_facts",
    "write_card",
    "write_workspace_card",
]
