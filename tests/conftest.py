"""Shared fixtures: a site's configuration and database in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from access.config import Config, load_config
from access.db import Database, migrate
from access.default_config import render
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a site config (the one `halfday init` writes) with optional text replacements; returns its path."""

    def write(replace: dict[str, str] | None = None, extra: str = "", name: str = "halfday.toml") -> Path:
        text = render("test-site", "Le Local", str(tmp_path / "halfday.db"))
        for old, new in (replace or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text + extra, encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config())


@pytest.fixture
def db(config: Config) -> Database:
    migrate(config.database_url)
    database = Database(config.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one for the whole run: Playwright's sync API allows one driver per process."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
