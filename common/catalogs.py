"""Keeping the English catalog in line with the code: `python -m common.catalogs` adds new message ids (to be
translated), drops unused ones and keeps every existing translation. The tests check that none is missing.

One catalog for the product: the kiosk's screens, the hub's pages, the toolkit they share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from common.i18n import TRANSLATIONS

# A fixed date keeps the header stable, so a refresh that changes nothing changes no line.
CATALOG_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
_OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
_KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2)}


# The packages whose code and templates speak to people, in the order their messages appear in the catalog.
SOURCES = ("common", "kiosk", "sync/hub")
ROOT = Path(__file__).resolve().parent.parent


def extract_messages() -> list[str | tuple[str, str]]:
    """Every message id used in the product's code and templates (plural ids as a pair)."""
    found: dict[str | tuple[str, str], None] = {}
    for source in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / source, _METHODS, _OPTIONS, keywords=_KEYWORDS
        ):
            found[message if isinstance(message, str) else (message[0], message[1])] = None
    return list(found)


def update_catalog(lang: str = "en") -> int:
    """Bring `<lang>/LC_MESSAGES/messages.po` in line with the code: add new ids (untranslated), drop unused ones,
    keep every existing translation. Returns how many ids still need a translation."""
    path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    old: dict[Any, Any] = {}
    if path.exists():
        with path.open("rb") as po_file:
            old = {m.id: m.string for m in read_po(po_file) if m.id}
    catalog = Catalog(
        locale=lang,
        project="halfday",
        version="1",
        copyright_holder="halfday",
        creation_date=CATALOG_DATE,
        revision_date=CATALOG_DATE,
        fuzzy=False,
    )
    missing = 0
    for message_id in extract_messages():
        key = message_id
        translation = old.get(key) or (("", "") if isinstance(message_id, tuple) else "")
        if not translation or (isinstance(translation, tuple) and not all(translation)):
            missing += 1
        catalog.add(message_id, translation)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po_file:
        write_po(po_file, catalog, width=120, omit_header=False, sort_output=False, no_location=True)
    return missing


if __name__ == "__main__":
    print(f"{update_catalog()} message(s) à traduire dans common/translations/en/LC_MESSAGES/messages.po")
