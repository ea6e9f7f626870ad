"""Import members from a CSV file: every bad row is reported with its line number, and then nothing is imported."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from access.admin import AdminError, MemberSpec, add_member
from common.badges import ANY_READER, BadgeRule

COLUMNS = ("first_name", "last_name", "email", "plan", "badge", "valid_from", "valid_until")
REQUIRED = ("first_name",)


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"ligne {self.line} : {self.reason}"


class ImportRejected(Exception):
    """The file has bad rows; `errors` lists all of them. Nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} ligne(s) en erreur, rien n'a été importé")
        self.errors = errors


def read_rows(text: str) -> list[tuple[int, MemberSpec]]:
    """Parse the CSV text (comma or semicolon separated, as spreadsheets export it)."""
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("colonne(s) manquante(s) : " + ", ".join(missing))
        if unknown:
            problems.append("colonne(s) inconnue(s) : " + ", ".join(unknown))
        raise ImportRejected([RowError(1, "; ".join(problems) + f" (colonnes possibles : {', '.join(COLUMNS)})")])
    reader.fieldnames = header
    rows = []
    for record in reader:
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        rows.append(
            (
                reader.line_num,
                MemberSpec(
                    first_name=values.get("first_name", ""),
                    last_name=values.get("last_name", ""),
                    email=values.get("email") or None,
                    plan=values.get("plan") or None,
                    badge=values.get("badge") or None,
                    valid_from=values.get("valid_from") or None,
                    valid_until=values.get("valid_until") or None,
                ),
            )
        )
    return rows


def import_members(session: Session, text: str, device_id: str, badges: BadgeRule = ANY_READER) -> int:
    """Add every member of the CSV `text` in the caller's transaction, or raise ImportRejected with all errors.

    Each row is tried in a savepoint so that one bad row does not hide the next ones; the caller rolls the whole
    transaction back when anything was wrong.
    """
    rows = read_rows(text)
    errors: list[RowError] = []
    for line, spec in rows:
        savepoint = session.begin_nested()
        try:
            add_member(session, spec, device_id, badges)
            savepoint.commit()
        except AdminError as exc:
            savepoint.rollback()
            errors.append(RowError(line, str(exc)))
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected([RowError(2, "le fichier ne contient aucun membre")])
    return len(rows)
