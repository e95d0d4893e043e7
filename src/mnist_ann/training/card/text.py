"""Text that a card takes from files or a store (param values, metric and variant names, file
names in the lineage, a version's title), shown as itself: on one line, with every character that
Markdown or HTML would act on escaped. A param value with a line break added a fake "Intended use"
section, raw HTML in a metric name reached the page, and a name ending in `---` ended the front
matter early."""

from __future__ import annotations

import re

# Markdown's backslash escapes (CommonMark: any ASCII punctuation may be escaped), for the
# characters that would change what a card shows or loads: raw HTML and entities (<, >, &), table
# cells (|), code spans (`), links and images ([, ], !), and the escape itself. Emphasis (* and _)
# stays as written: `shift_3px` reads as itself, and a stray emphasis changes no meaning.
SPECIAL = r"\\`\[\]<>|!&"
_SPECIAL = re.compile(f"([{SPECIAL}])")
ESCAPED = re.compile(f"\\\\([{SPECIAL}])")  # how html.py finds them again
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # control characters and line separators


def one_line(value: object) -> str:
    """`value` as one line of text: line breaks, tabs and other control characters as spaces."""
    return " ".join(_BREAKS.sub(" ", str(value)).split())


def literal(value: object) -> str:
    """`value` as Markdown that shows it literally, on one line."""
    return _SPECIAL.sub(r"\\\1", one_line(value))
