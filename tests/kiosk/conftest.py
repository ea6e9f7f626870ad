"""Kiosk fixtures: the sample site on a real Mosquitto, the kiosk served by waitress on a free port, Chromium
pages, a probe on the local bus, and the real door daemon (tests/support/door.py) for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page

from access.config import Config
from halfday.sample import ALL_DAY
from kiosk.app import create_app
from kiosk.serve import KioskServer
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.kiosk import KIOSK_SITE, TEST_TUNING, TOUCH, BusProbe
from tests.support.site import Site
from tests.support.wait import wait_until


@pytest.fixture
def site(new_site: Callable[..., Site], broker: Mosquitto) -> Site:
    """The sample site, its slots the whole day (so passes sell at any hour of a test run), on the test's bus."""
    return new_site(bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides={**ALL_DAY, **KIOSK_SITE})


@pytest.fixture
def app(site: Site) -> Iterator[Flask]:
    """The kiosk's app for the site without the bus: the test client plays the browser."""
    application = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
    yield application
    application.extensions["halfday.kiosk"].close()


@pytest.fixture
def make_app() -> Iterator[Callable[[Site], Flask]]:
    """Factory: the kiosk's app for a site of the test's own making, without the bus, closed at the end."""
    apps: list[Flask] = []

    def make(site: Site) -> Flask:
        app = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["halfday.kiosk"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def start_kiosk(site: Site) -> Iterator[Callable[..., KioskServer]]:
    """Factory: the kiosk for `site`, served on a free port and connected to the bus; stopped after the test."""
    servers: list[KioskServer] = []

    def start(config: Config | None = None, port: int = 0, **app_kwargs: Any) -> KioskServer:
        app_kwargs.setdefault("tuning", TEST_TUNING)
        server = KioskServer(create_app(config or site.config, **app_kwargs), port=port).start()
        servers.append(server)
        link = server.kiosk.link
        assert link is None or wait_until(lambda: link.connected, 10), "the kiosk did not reach the bus"
        return server

    yield start
    for server in servers:
        if not server.stopped:
            server.stop()


@pytest.fixture
def kiosk(start_kiosk: Callable[..., KioskServer]) -> KioskServer:
    return start_kiosk()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: a page in a fresh browser context (own cookies) with the given viewport."""
    contexts = []

    def open_page(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or TOUCH)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page(TOUCH)


@pytest.fixture
def probe(broker: Mosquitto) -> Iterator[BusProbe]:
    bus_probe = BusProbe(broker)
    yield bus_probe
    bus_probe.close()


@pytest.fixture
def door(site: Site, door_rig: Callable[..., DoorRig]) -> DoorRig:
    """The real door daemon on the kiosk's site and bus, started."""
    rig = door_rig(site, use_bus=True)
    rig.start()
    return rig
