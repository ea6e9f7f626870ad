"""The one language system: French by default, English on request, through gettext catalogs (Flask-Babel) compiled
in memory from the committed .po files. The kiosk's screens and the hub's pages use it alike.

The message ids are the French texts, so French needs no catalog and a string missing from the English catalog
still shows in the site's own language. Compiling the .po at start (a few milliseconds) means a clean checkout
works with only `pip install -e .`: no build step, and no compiled file to forget or let go stale.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import flask_babel
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, request, session
from flask_babel import Babel, Domain, get_locale

TRANSLATIONS = Path(__file__).with_name("translations")
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


@functools.cache
def load_catalogs(directory: Path = TRANSLATIONS) -> dict[str, Translations]:
    """Every `<lang>/LC_MESSAGES/messages.po` under `directory`, compiled to gettext translations."""
    catalogs: dict[str, Translations] = {}
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        catalogs[po_path.parent.parent.name] = Translations(fp=buffer)
    return catalogs


class CatalogDomain(Domain):  # type: ignore[misc]  # flask_babel is untyped
    """Flask-Babel's domain, answering from catalogs held in memory instead of .mo files on disk."""

    def __init__(self, catalogs: dict[str, Translations]) -> None:
        super().__init__()
        self._catalogs = catalogs
        self._null = NullTranslations()

    def get_translations(self) -> NullTranslations:
        locale = get_locale()
        return self._catalogs.get(str(locale), self._null) if locale is not None else self._null


class CatalogBabel(Babel):  # type: ignore[misc]
    """Flask-Babel with the in-memory domain as its default domain."""

    def __init__(self, domain: CatalogDomain) -> None:
        self._domain = domain
        super().__init__()

    @property
    def domain_instance(self) -> CatalogDomain:
        return self._domain


def gettext(text: str, **variables: Any) -> str:
    """The translation of `text` (a French message id) in this request's language, %-formatted with `variables`."""
    return str(flask_babel.gettext(text, **variables))


_ = gettext


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    return str(flask_babel.ngettext(singular, plural, num, **variables))


def current_language() -> str:
    """The language of this request: the visitor's choice for this browser session, else the site's."""
    chosen = session.get("lang") if request else None
    if chosen in LANGUAGES:
        return str(chosen)
    return str(current_app.config.get("HALFDAY_LANGUAGE", DEFAULT_LANGUAGE))


def init_i18n(app: Flask, language: str) -> None:
    """Install the catalogs, the locale selector and Jinja's gettext on `app`."""
    app.config["HALFDAY_LANGUAGE"] = language if language in LANGUAGES else DEFAULT_LANGUAGE
    babel = CatalogBabel(CatalogDomain(load_catalogs()))
    babel.init_app(app, default_locale=app.config["HALFDAY_LANGUAGE"], locale_selector=current_language)
