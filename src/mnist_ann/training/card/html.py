"""The card as one self-contained HTML page: the Markdown card's body turned into HTML (the small
subset markdown.py writes: headings, paragraphs, lists, tables, `code` and **bold**), the figures'
images inlined as data: URIs, and a Content-Security-Policy that lets the page load nothing from
anywhere, so that it reads the same offline, in a mail attachment or in an artifact viewer."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping

from .text import ESCAPED

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
th{background:#f3f3f3}code{background:#f3f3f3;padding:0 .2em}img{max-width:100%;border:1px solid #eee}
.figures{display:flex;flex-wrap:wrap;gap:1em}.figures figure{margin:0;max-width:28em}"""


# Where each of the pipeline's images goes: at the end of the section it illustrates (an image of
# another caption, from a card stored before this, goes at the end of the page)
IMAGE_SECTIONS = {
    "Accuracy per epoch": "Figures",
    "Loss per epoch": "Figures",
    "Confusion matrix on the test set": "Figures",
    "Sample predictions (mistakes in red)": "Figures",
    "Most confident mistakes on the test set": "Where it fails",
}


def render_html(markdown: str, images: Mapping[str, bytes] = {}) -> str:
    """`markdown` (render_markdown's card, its YAML front matter dropped) as a whole page, with
    `images` (caption -> PNG bytes) at the end of their sections (IMAGE_SECTIONS)."""
    # The front matter ends at the first line that is `---` itself (a `---` inside a line is text).
    front = re.match(r"---\n.*?\n---\n", markdown, re.S)
    body = markdown[front.end() :] if front else markdown
    title = next((line[2:] for line in body.splitlines() if line.startswith("# ")), "Model card")
    by_section: dict[str | None, dict[str, bytes]] = {}
    for caption, png in images.items():
        by_section.setdefault(IMAGE_SECTIONS.get(caption), {})[caption] = png
    parts: list[str] = []
    for block in _blocks(body):
        ended = _section_of(parts) if block.startswith("<h2>") else None  # the section this heading ends
        if ended is not None:
            parts += _figures(by_section.pop(ended, {}))
        parts.append(block)
    parts += _figures({caption: png for group in by_section.values() for caption, png in group.items()})  # the rest
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _section_of(parts: list[str]) -> str | None:
    """The title of the last second-level section opened among `parts` (HTML blocks)."""
    opened = next((part for part in reversed(parts) if part.startswith("<h2>")), None)
    return html.unescape(re.sub("<[^>]+>", "", opened)) if opened else None


def _figures(images: Mapping[str, bytes]) -> list[str]:
    """`images` (caption -> PNG bytes) as one block of figures, inlined; none for no images."""
    if not images:
        return []
    shown = "".join(
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, png in images.items()
    )
    return [f'<div class="figures">{shown}</div>']


def _blocks(text: str) -> list[str]:
    """Markdown blocks (separated by blank lines) as HTML."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines[0].startswith("#"):
            level = len(lines[0]) - len(lines[0].lstrip("#"))
            out.append(f"<h{level}>{_inline(lines[0][level:].strip())}</h{level}>")
        elif lines[0].startswith("|"):
            out.append(_table(lines))
        elif lines[0].startswith("- "):
            items = re.split(r"\n- ", "\n" + block)[1:]
            out.append("<ul>" + "".join(f"<li>{_inline(' '.join(i.split()))}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(block.split()))}</p>")
    return out


def _table(lines: list[str]) -> str:
    """A Markdown table (header, rule, rows; `\\|` is a bar inside a cell) as an HTML table."""
    rows = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]] for line in lines]
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>" for row in rows[2:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _inline(text: str) -> str:
    """A line of the card's Markdown as HTML: `code` and **bold**, and each backslash-escaped
    character (text.py) as itself, set aside first so that no markup is made of it."""
    kept: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        kept.append(match.group(1))
        return f"\0{len(kept) - 1}\0"  # NUL: text.py turns it into a space, so no text holds one

    escaped = html.escape(ESCAPED.sub(set_aside, text), quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub("\0(\\d+)\0", lambda m: html.escape(kept[int(m.group(1))], quote=False), escaped)
