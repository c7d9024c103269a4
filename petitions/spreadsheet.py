"""CSV that people open in spreadsheets: every cell the service writes is shown, never run."""

import csv
from collections.abc import Iterable
from typing import Any, TextIO

# A cell starting with one of these is run as a formula by spreadsheet programs; member numbers,
# file names, notes and rejected rows come from outside, so they are quoted with a leading
# apostrophe (OWASP's advice for CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """``value`` as CSV cell text that a spreadsheet shows rather than runs."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """A csv.writer whose every cell goes through safe_cell: no CSV the service writes can
    carry a formula, whichever column a hostile value lands in."""

    def __init__(self, out: TextIO, **options: Any):
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable) -> None:
        """Write one row."""
        self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        """Write every row."""
        for row in rows:
            self.writerow(row)
