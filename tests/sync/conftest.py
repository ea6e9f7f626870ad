"""Fixtures of the sync tests: a real Mosquitto, the hub's database on SQLite and on PostgreSQL, a hub key, hub
workers, a door's ledger and its sync agent, plain subscribers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from access.db import Database, migrate
from sync.agent import AgentSettings, SyncAgent
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.worker import HubWorker
from sync.mqtt import MqttSettings
from sync.signing import generate_private_key, load_private_key, public_key_b64, save_private_key
from tests.support.broker import Mosquitto
from tests.support.listener import Listener
from tests.support.pg import pg_url

__all__ = ["pg_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubDatabase]:
    """The hub's database, empty, once on SQLite and once on PostgreSQL (a database of this test run)."""
    if request.param == "sqlite":
        db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    else:
        db = HubDatabase(request.getfixturevalue("pg_url"))
        db.drop_all()
    db.create_all()
    yield db
    if db.dialect == "postgresql":
        db.drop_all()
    db.dispose()


@pytest.fixture
def hub_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub.key"
    save_private_key(generate_private_key(), path)
    return path


@pytest.fixture
def hub_settings(broker: Mosquitto, hub_db: HubDatabase, hub_key_file: Path) -> HubSettings:
    return HubSettings(
        database_url=hub_db.url,
        broker=MqttSettings(broker.host, broker.port),
        private_key_file=str(hub_key_file),
        keeper_poll_s=0.05,
        gap_wait_s=0.2,
    )


@pytest.fixture
def make_worker(hub_settings: HubSettings, hub_db: HubDatabase) -> Iterator[Callable[..., HubWorker]]:
    """Start hub workers (in this process) that share the test's database; all stopped at teardown."""
    workers: list[HubWorker] = []

    def make(index: int = 0, settings: HubSettings | None = None) -> HubWorker:
        worker = HubWorker(settings or hub_settings, index, db=hub_db)
        worker.start()
        assert worker.client.wait_connected(10), "hub worker did not connect to the broker"
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


SITE, DEVICE = "site-a", "door-1"


@pytest.fixture
def listeners() -> Iterator[Callable[[Mosquitto, str], Listener]]:
    """Factory: `listeners(broker, *filters)` subscribes a plain client; every one is stopped after the test."""
    made: list[Listener] = []

    def make(broker: Mosquitto, *filters: str) -> Listener:
        listener = Listener(broker, *filters)
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.client.stop()


@pytest.fixture
def door_db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'door' / 'halfday.sqlite'}"
    migrate(url)
    db = Database(url)
    yield db
    db.dispose()


def agent_settings(
    broker: Mosquitto, db: Database, hub_settings: HubSettings, tmp_path: Path, **extra: Any
) -> AgentSettings:
    key = load_private_key(hub_settings.private_key_file)
    values: dict[str, Any] = {
        "site": SITE,
        "device": DEVICE,
        "database_url": db.url,
        "hub": MqttSettings(broker.host, broker.port),
        "public_key": public_key_b64(key),
        "state_path": str(tmp_path / "sync-state.sqlite"),
        "bus": MqttSettings(broker.host, broker.port),
        "batch_events": 200,
        "window_events": 2000,
        "ack_timeout_s": 1.5,
        "fast_resend_s": 0.5,
        "status_interval_s": 0.5,
    }
    values.update(extra)
    return AgentSettings(**values)


@pytest.fixture
def make_agent(
    broker: Mosquitto,
    door_db: Database,
    hub_settings: HubSettings,
    tmp_path: Path,
    start_agent: Callable[..., SyncAgent],
) -> Callable[..., SyncAgent]:
    def make(**extra: Any) -> SyncAgent:
        return start_agent(agent_settings(broker, door_db, hub_settings, tmp_path, **extra), Database(door_db.url))

    return make
