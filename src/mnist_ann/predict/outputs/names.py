"""Input names as predict writes them into its files: always printable text, and in CSV never a
cell that a spreadsheet would run as a formula."""

from __future__ import annotations

from collections.abc import Sequence

from ...core.errors import as_utf8

# OWASP's CSV-injection list: a cell starting with one of these is a formula (or becomes one) in
# Excel, LibreOffice and Google Sheets; `=HYPERLINK(...)` in a file name would be clickable there.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(name: str) -> str:
    """`name` as valid UTF-8 text (errors.as_utf8): bytes of a file name that are not UTF-8 as
    \\xNN, so writing the name cannot fail."""
    return as_utf8(name)


def spreadsheet_safe(name: str) -> str:
    """printable(name), with a leading `'` when it would start a formula (OWASP's advice: the quote
    makes spreadsheets show the cell as text and is visible, not silently dropped)."""
    name = printable(name)
    return "'" + name if name.startswith(FORMULA_STARTS) else name


def error_rows(errors: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The rows of an errors file, one per (source, reason): the source spreadsheet-safe."""
    return [{"source": spreadsheet_safe(source), "error": printable(reason)} for source, reason in errors]


def csv_field(text: str) -> str:
    """A name as one CSV field: spreadsheet-safe, quoted when it holds a comma, a quote or a line
    break."""
    text = spreadsheet_safe(text)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
