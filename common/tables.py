"""What every export and report shares: the month a manager asks for, and the one CSV writer.

CSV files go to French spreadsheets: `;` between cells, a byte-order mark so accents read right, CRLF line ends,
and no cell that a spreadsheet would take for a formula (a walk-in named `=HYPERLINK(...)` stays text).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

BOM = "\ufeff"
# What a spreadsheet starts a formula with (and the controls that hide one).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_month(raw: str | None) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); ValueError with the French reason otherwise."""
    if not raw or not re.fullmatch(r"\d{4}-\d{2}", raw):
        raise ValueError(f"mois « {raw} » : attendu AAAA-MM, par exemple 2026-11")
    year, month = int(raw[:4]), int(raw[5:])
    if not 1 <= month <= 12 or year < 2000:
        raise ValueError(f"mois « {raw} » : le mois doit être entre 01 et 12")
    return year, month


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    """The first day of the month and the first day of the next: [start, end)."""
    start = dt.date(year, month, 1)
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return start, end


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text with a header row, as French spreadsheets read it (the BOM is the file's: see `csv_file`)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def csv_file(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The whole file: the byte-order mark, then `to_csv`."""
    return BOM + to_csv(header, rows)


def _cell(value: Any) -> Any:
    # A name typed at a kiosk must not become a formula in the association's spreadsheet.
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value
