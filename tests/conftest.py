"""Shared fixtures: a site's configuration and database in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from access.config import Config, load_config
from access.db import Database, migrate
from access.default_config import render


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
