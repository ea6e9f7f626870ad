"""A sample site for a test: its config written from data (halfday/sample.py), its database a copy of one made
once per run with the sample network (migrating and seeding for every test would cost seconds)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from access.config import Config
from access.db import Database, migrate
from halfday import sample
from kiosk.auth import set_password

MANAGER_PASSWORD = "correct horse battery"
# A reader path nothing answers on: only a door rig opens the reader, and it names its own virtual card.
NO_READER = "udp:127.0.0.1:9"


def sample_database(folder: Path) -> Path:
    """A migrated database holding the sample network, to copy for each test."""
    path = folder / "halfday.db"
    url = f"sqlite:///{path}"
    migrate(url)
    db = Database(url)
    try:
        sample.seed_site(db, sample.DEVICE)
    finally:
        db.dispose()
    return path


@dataclass
class Site:
    """A site on disk: its folder, its config file (and the data it was written from), its database."""

    folder: Path
    config_path: Path
    data: dict[str, Any]
    config: Config = field(init=False)
    db: Database = field(init=False)

    def __post_init__(self) -> None:
        self.config = sample.write_config(self.config_path, self.data)
        self.db = Database(self.config.database_url)

    def reconfigure(self, overrides: Mapping[str, Any]) -> Config:
        """Lay `overrides` over the config, write it again (checked), and return it."""
        self.data = sample.merged(self.data, overrides)
        self.config = sample.write_config(self.config_path, self.data)
        return self.config

    def set_password(self, password: str = MANAGER_PASSWORD) -> None:
        with self.db.write() as session:
            set_password(session, password)

    def close(self) -> None:
        self.db.dispose()


def make_site(
    folder: Path,
    template: Path,
    *,
    reader_path: str = NO_READER,
    bus_url: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Site:
    """The sample site in `folder`, its database copied from `template` (see `sample_database`)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "halfday.db"
    shutil.copyfile(template, database)
    data = sample.site_config(database, reader_path, bus_url=bus_url, overrides=overrides)
    return Site(folder, folder / "halfday.toml", data)
