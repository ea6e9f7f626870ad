"""Paheko's import rules for its grouped CSV format ("Groupé"), as its import code applies them
(src/include/lib/Paheko/Accounting/Import.php and Export.php): a checker for the journal files we write.

- The header names Paheko's columns; mandatory: Libellé, Date, Numéro compte, Débit, Crédit.
- A line whose entry columns (Numéro d'écriture, Type, Statut, Libellé, Date, Remarques, Numéro pièce comptable)
  are all empty continues the entry above; any other line starts a new entry. The first line must start one.
- A non-empty "Numéro d'écriture" names an existing entry to replace: a file of new entries leaves it out.
- The date is day/month/year; amounts have a decimal comma, no thousands separator; a line with neither a debit nor
  a credit is skipped, so every line we write has exactly one of them.
- The account must exist in the chart of accounts; an entry must balance (debits equal credits).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field

MANDATORY = ("Libellé", "Date", "Numéro compte", "Débit", "Crédit")
ENTRY_FIELDS = ("Numéro d'écriture", "Type", "Statut", "Libellé", "Date", "Remarques", "Numéro pièce comptable")
KNOWN = (
    *ENTRY_FIELDS,
    "Numéro compte",
    "Libellé compte",
    "Débit",
    "Crédit",
    "Référence ligne",
    "Libellé ligne",
    "Rapprochement",
    "Projet analytique",
    "Membres associés",
)
AMOUNT = re.compile(r"\d+(,\d{1,2})?")


@dataclass
class Imported:
    label: str
    day: dt.date
    reference: str
    lines: list[tuple[str, int, int]] = field(default_factory=list)  # (account, debit cents, credit cents)


def cents(raw: str, where: str) -> int:
    if raw in ("", "0"):
        return 0
    if not AMOUNT.fullmatch(raw):
        raise AssertionError(f"{where}: montant « {raw} » hors format (virgule décimale, sans séparateur)")
    units, _, dec = raw.partition(",")
    return int(units) * 100 + int((dec + "00")[:2])


def check(text: str, chart: Collection[str]) -> list[Imported]:
    """The entries Paheko would import from `text`; AssertionError naming the first line it would refuse."""
    rows = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)))
    for name in MANDATORY:
        assert name in header, f"colonne obligatoire absente : {name}"
    for name in header:
        assert name in KNOWN, f"colonne inconnue de Paheko : {name}"
    entries: list[Imported] = []
    for number, row in enumerate(rows, start=2):
        where = f"ligne {number}"
        starts = any(row.get(name) for name in ENTRY_FIELDS)
        assert not row.get("Numéro d'écriture"), f"{where}: un numéro d'écriture remplacerait une écriture existante"
        if starts:
            try:
                day = dt.datetime.strptime(row["Date"], "%d/%m/%Y").date()
            except ValueError:
                raise AssertionError(f"{where}: date « {row['Date']} » hors format JJ/MM/AAAA") from None
            assert row["Libellé"], f"{where}: écriture sans libellé"
            entries.append(Imported(row["Libellé"], day, row.get("Numéro pièce comptable", "")))
        assert entries, f"{where}: cette ligne n'est reliée à aucune écriture"
        assert row["Numéro compte"] in chart, f"{where}: le compte {row['Numéro compte']} n'existe pas"
        debit, credit = cents(row["Débit"], where), cents(row["Crédit"], where)
        assert (debit == 0) != (credit == 0), f"{where}: une ligne porte un débit ou un crédit, pas les deux ni aucun"
        entries[-1].lines.append((row["Numéro compte"], debit, credit))
    for entry in entries:
        assert len(entry.lines) >= 2, f"écriture {entry.reference} : une seule ligne"
        debits, credits = sum(d for _, d, _ in entry.lines), sum(c for _, _, c in entry.lines)
        assert debits == credits, f"écriture {entry.reference} déséquilibrée : {debits} / {credits}"
    return entries
