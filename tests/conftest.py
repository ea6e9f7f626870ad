"""Fixtures every test package shares: a real broker, the sample site, the door rig, a site's config written from
data, and Debian's Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from playwright.sync_api import Browser, Page, expect, sync_playwright

from access.config import Config, load_config
from access.db import Database, migrate
from halfday import sample
from sync.agent import AgentSettings, SyncAgent
from tests.support.axe import SIZES
from tests.support.broker import Mosquitto, running_broker
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.door import DoorRig
from tests.support.site import Site, make_site, sample_database

# A page's assertions wait as long as its actions (the contexts' default): on a loaded machine, with three workers
# on two cores, a door's tap can take more than Playwright's 5 s to reach a screen. A passing check waits no longer.
expect.set_options(timeout=10_000)


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free port (persistence on, saved every second), stopped by PID after the test."""
    yield from running_broker(tmp_path_factory.mktemp("mosquitto"))


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample network in a migrated database, made once per run and copied for each site."""
    return sample_database(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def new_site(tmp_path: Path, sample_db: Path) -> Iterator[Callable[..., Site]]:
    """Factory: `new_site(bus_url=..., overrides=...)` makes a sample site (config from data, the sample members)."""
    sites: list[Site] = []

    def make(name: str = "site", **kwargs: Any) -> Site:
        site = make_site(tmp_path / name, sample_db, **kwargs)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


@pytest.fixture
def door_rig() -> Iterator[Callable[..., DoorRig]]:
    """Factory: `door_rig(site, use_bus=...)` puts the real door daemon on `site` (not started); closed after."""
    rigs: list[DoorRig] = []

    def make(site: Site, **kwargs: Any) -> DoorRig:
        rig = DoorRig(site, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a site config from data (what `halfday init` writes, with `overrides` over it), unchecked, so that a
    test can write a bad one; returns its path."""

    def write(overrides: Mapping[str, Any] | None = None, name: str = "halfday.toml") -> Path:
        data = sample.site_config(tmp_path / "halfday.db", "udp:127.0.0.1:54321", overrides=overrides)
        path = tmp_path / name
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config())


@pytest.fixture
def db(config: Config) -> Iterator[Database]:
    """The site's database, migrated and empty."""
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


@pytest.fixture
def start_agent() -> Iterator[Callable[..., SyncAgent]]:
    """Factory: `start_agent(settings, db=None, **options)` starts a sync agent and waits until it reaches the hub's
    broker; every agent started is stopped after the test."""
    agents: list[SyncAgent] = []

    def start(settings: AgentSettings, db: Database | None = None, **options: Any) -> SyncAgent:
        agent = SyncAgent(settings, db, **options)
        agent.start()
        agents.append(agent)
        assert agent.hub.wait_connected(10), "the sync agent did not reach the hub's broker"
        return agent

    yield start
    for agent in agents:
        agent.stop()


@pytest.fixture
def sized_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page in its own browser context (own cookies) at the size the test is parametrized with (a name of
    tests/support/axe.py SIZES, given with `indirect=True`)."""
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
