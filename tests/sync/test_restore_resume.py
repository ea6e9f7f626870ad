"""An appliance restored from last night's backup goes on sending, and the hub ends with every event exactly once
and the door's balances right (issue #18): the real door daemon in its own process on a virtual card, the real
sync agent, a hub worker on PostgreSQL, a real Mosquitto, `halfday backup` and `halfday restore` as the manager
runs them."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from access import incarnation
from access.models import Event as DoorEvent
from access.models import Incarnation
from halfday.sample import ALL_DAY
from hardware.virtual_card import VirtualCard
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.hub import admin, roster
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import DeviceCursor, DeviceIncarnation, Use
from sync.hub.models import Event as HubEvent
from sync.hub.worker import HubWorker
from sync.mqtt import MqttSettings
from sync.signing import generate_private_key, public_key_b64, save_private_key
from tests.support.broker import Mosquitto
from tests.support.door import TAP_GAP_S, start_door
from tests.support.pg import fresh_database
from tests.support.site import Site
from tests.support.wait import wait_until

# A fault run (a door dies and is restored from its backup): in the soak step of CI, not in `make test`.
pytestmark = pytest.mark.soak

ALICE, BRUNO, GAELLE, HUGO = "A1A1A1A1", "B2B2B2B2", "C3C3C3C3", "D4D4D4D4"


@pytest.fixture
def pg_hub() -> Iterator[HubDatabase]:
    with fresh_database("halfday_resume") as url:
        db = HubDatabase(url)
        db.create_all()
        yield db
        db.dispose()


@pytest.fixture(autouse=True)
def quick_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    # The restored door holds last night's roster version: it gets the next snapshot at once, not 30 s later.
    monkeypatch.setattr(roster, "SNAPSHOT_MIN_GAP", dt.timedelta(0))


class Appliance:
    """The door daemon (a process of its own) and the sync agent of one site: started, killed, started again."""

    def __init__(self, site: Site, card: VirtualCard, folder: Path) -> None:
        self.site, self.card, self.folder = site, card, folder
        self.door: subprocess.Popen[bytes] | None = None
        self.agent: SyncAgent | None = None

    def start(self, *, agent: bool = True) -> None:
        ready = self.log().count("porte prête")
        self.door = start_door(self.site.config_path, self.folder / "door.log")
        assert wait_until(lambda: self.log().count("porte prête") > ready, 20), self.log()[-2000:]
        if agent:
            self.start_agent()

    def start_agent(self) -> None:
        self.agent = SyncAgent(AgentSettings.from_config(self.site.config), kernel_synced=lambda: True)
        self.agent.start()
        assert self.agent.hub.wait_connected(10)

    def log(self) -> str:
        path = self.folder / "door.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def die(self) -> None:
        """The SD card fails: the door's process is killed, the agent goes with it."""
        if self.door is not None:
            self.door.send_signal(signal.SIGKILL)
            self.door.wait(10)
            self.door = None
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    def tap(self, uid: str) -> dict[str, Any]:
        """A badge presented at the door; the entry it recorded."""
        before = self.entries()
        self.card.present(uid, 0.3)
        assert wait_until(lambda: len(self.entries()) > len(before), 10), f"no entry recorded for {uid}"
        time.sleep(TAP_GAP_S)  # the card taken away long enough for the reader to see it go
        return self.entries()[len(before)]

    def entries(self) -> list[dict[str, Any]]:
        with self.site.db.read() as session:
            return [
                e.data
                for e in session.scalars(select(DoorEvent).where(DoorEvent.kind == "entry").order_by(DoorEvent.at))
            ]

    def roster_version(self) -> int:
        return outbox.roster_version(self.site.db) or 0

    def last_seq(self) -> int:
        with self.site.db.read() as session:
            return int(session.execute(select(func.max(DoorEvent.seq))).scalar() or 0)


def halfday(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "halfday.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def hub_cursor(db: HubDatabase, site: str, device: str) -> int:
    with db.read() as session:
        return int(
            session.execute(
                select(DeviceCursor.seq).where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
            ).scalar()
            or 0
        )


def test_a_door_restored_from_last_nights_backup_goes_on_and_the_hub_has_every_event_once(
    tmp_path: Path, broker: Mosquitto, new_site: Callable[..., Site], pg_hub: HubDatabase
) -> None:
    key_file = tmp_path / "hub.key"
    key = generate_private_key()
    save_private_key(key, key_file)
    card = VirtualCard()
    site = new_site(reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides=ALL_DAY)
    site_id, device = site.config.site.id, site.config.site.device
    site.reconfigure({"hub": {"url": f"mqtt://127.0.0.1:{broker.port}", "public_key": public_key_b64(key)}})

    # The network at the hub: Alice unlimited, Bruno and Gaëlle with carnets of 10 half-days.
    admin.add_site(pg_hub, site_id, "La Filature")
    unlimited = admin.add_plan(pg_hub, "Illimité", "unlimited")
    carnet = admin.add_plan(pg_hub, "Carnet 10", "carnet", half_days=10)
    members = {}
    people = (("Alice", ALICE, unlimited), ("Bruno", BRUNO, carnet), ("Gaëlle", GAELLE, carnet), ("Hugo", HUGO, carnet))
    for name, uid, plan in people:
        members[name] = admin.add_member(pg_hub, name, "Martin", home_site=site_id)
        admin.add_subscription(pg_hub, members[name], plan)
        admin.enrol_badge(pg_hub, members[name], uid)
    worker = HubWorker(
        HubSettings(
            database_url=pg_hub.url,
            broker=MqttSettings(broker.host, broker.port),
            private_key_file=str(key_file),
            keeper_poll_s=0.05,
            gap_wait_s=0.2,
            roster_balance_interval_s=0.5,
        ),
        db=pg_hub,
    )
    worker.start()
    appliance = Appliance(site, card, tmp_path)
    try:
        appliance.start()

        def holds_the_hubs_badges() -> bool:
            try:
                return appliance.tap(ALICE)["granted"] is True
            except AssertionError:
                return False

        assert wait_until(holds_the_hubs_badges, 30), appliance.log()[-2000:]

        # The day goes on: Bruno spends a half-day; everything reaches the hub.
        assert appliance.tap(BRUNO)["use"]["spent"] == 1
        assert wait_until(lambda: hub_cursor(pg_hub, site_id, device) == appliance.last_seq(), 20)

        # Last night's backup (as the timer runs it).
        made = halfday(site.config_path, "backup")
        assert made.returncode == 0, made.stderr
        at_backup = appliance.last_seq()
        roster_at_backup = appliance.roster_version()

        # After the backup: Gaëlle's first half-day of the day (a carnet spent), Bruno comes back (free).
        gaelle = appliance.tap(GAELLE)
        assert gaelle["granted"] and gaelle["use"]["spent"] == 1 and gaelle["balance"] == 9
        assert appliance.tap(BRUNO)["use"] is None
        appliance.tap(ALICE)
        assert wait_until(lambda: hub_cursor(pg_hub, site_id, device) == appliance.last_seq(), 20)
        before_death = appliance.last_seq()
        assert before_death > at_backup

        # The appliance dies; the manager restores last night's backup and starts it again.
        appliance.die()
        site.db.dispose()  # this test's own connections go, as the kiosk's do with its restart
        restored = halfday(site.config_path, "restore", "--force")
        assert restored.returncode == 0, restored.stderr
        assert appliance.last_seq() == at_backup
        # The door starts first and records a tap before sync is up: numbered after the backup's events for now.
        appliance.start(agent=False)
        assert appliance.tap(ALICE)["granted"]
        # Hugo's first half-day, spent while sync is down: it must stay spent whatever roster comes back.
        hugo = appliance.tap(HUGO)
        assert hugo["granted"] and hugo["use"]["spent"] == 1 and hugo["balance"] == 9
        appliance.start_agent()

        def resumed() -> bool:
            with site.db.read() as session:
                return incarnation.pending(session) is None

        assert wait_until(resumed, 30), "the restored ledger never resumed"
        with site.db.read() as session:
            life = incarnation.current(session)
            assert isinstance(life, Incarnation)
            assert (life.reason, life.base_seq, life.hub_seq) == ("restored", at_backup, before_death)

        # Today's re-entries stay free, and the carnet spent after the backup is not given back.
        gaelle_again = appliance.tap(GAELLE)
        assert gaelle_again["granted"] and gaelle_again["use"] is None, gaelle_again
        assert gaelle_again["balance"] == 9
        bruno_again = appliance.tap(BRUNO)
        assert bruno_again["granted"] and bruno_again["use"] is None and bruno_again["balance"] == 9
        # The hub's roster came back meanwhile (the restored ledger held last night's): Hugo's half-day still counts.
        assert wait_until(lambda: appliance.roster_version() > roster_at_backup, 20)
        hugo_again = appliance.tap(HUGO)
        assert hugo_again["granted"] and hugo_again["use"] is None and hugo_again["balance"] == 9, hugo_again
        assert wait_until(lambda: hub_cursor(pg_hub, site_id, device) == appliance.last_seq(), 20)

        # The hub has every event exactly once: the same ids as the door's ledger, numbered 1..N without a hole.
        with site.db.read() as session:
            door_events = dict(session.execute(select(DoorEvent.id, DoorEvent.seq)).all())
        with pg_hub.read() as session:
            hub_events = dict(
                session.execute(
                    select(HubEvent.id, HubEvent.seq).where(HubEvent.site_id == site_id, HubEvent.device_id == device)
                ).all()
            )
            uses = sorted(
                (holder, spent)
                for holder, spent in session.execute(
                    select(Use.holder_id, Use.spent).where(Use.site_id == site_id)
                ).all()
            )
            resumes = session.scalars(select(DeviceIncarnation)).all()
        assert hub_events == door_events
        assert sorted(hub_events.values()) == list(range(1, len(hub_events) + 1))
        assert len(hub_events) == appliance.last_seq() > before_death + 2
        assert worker.stats.duplicates == 0  # nothing new was taken for something already stored
        # One half-day each today, whoever came back how often.
        assert uses == sorted(
            [(members["Alice"], 0), (members["Bruno"], 1), (members["Gaëlle"], 1), (members["Hugo"], 1)]
        )
        assert [(r.base_seq, r.cursor, r.sent_to) for r in resumes] == [(at_backup, before_death, before_death)]
    finally:
        appliance.die()
        worker.stop()
        card.close()
