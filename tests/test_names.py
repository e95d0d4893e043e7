"""names.py: input names written into output files are printable UTF-8 whatever bytes the file
system holds, and never a spreadsheet formula (OWASP's CSV-injection advice)."""

from __future__ import annotations

import os

import pytest

from mnist_ann.predict.outputs.names import csv_field, printable, spreadsheet_safe


def test_undecodable_bytes_become_escapes():
    name = os.fsdecode(b"scans/caf\xe9-\xff.png")  # Latin-1 bytes, as an old camera writes them
    assert printable(name) == "scans/caf\\xe9-\\xff.png"
    assert printable("scans/café.png") == "scans/café.png"  # valid UTF-8 is left alone
    printable(name).encode("utf-8")  # and the result always encodes


@pytest.mark.parametrize("name", ["=HYPERLINK(1).png", "+1+1.png", "-2+3.png", "@SUM(1).png", "\tx.png", "\rx.png"])
def test_formulas_are_shown_as_text(name):
    assert spreadsheet_safe(name) == "'" + name
    assert spreadsheet_safe("digits/" + name) == "digits/" + name  # only a leading character counts


def test_csv_field_quotes_after_escaping():
    assert csv_field("a,b.png") == '"a,b.png"'
    assert csv_field('=x,"y".png') == '"\'=x,""y"".png"'
    assert csv_field("plain.png") == "plain.png"
