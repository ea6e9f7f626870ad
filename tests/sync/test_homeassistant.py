"""The Home Assistant bridge against two real Mosquittos (the local bus and the site's own broker) and the real door
daemon: the discovery set passes the validator built from Home Assistant's documented rules; the states follow a
door forced open and a tap; unlock only with allow_unlock (otherwise neither advertised nor heard); everything is
published again when Home Assistant says it is back; the config never lets the local bus be Home Assistant's."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from access.config import ConfigError
from halfday.sample import ALICE
from sync import localbus as bus
from sync.homeassistant import Bridge, BridgeTuning
from sync.homeassistant.discovery import Discovery
from sync.mqtt import Message
from tests.support.broker import Mosquitto, running_broker
from tests.support.door import DoorRig, wait_message
from tests.support.ha_discovery import Invalid, validate, validate_set
from tests.support.listener import Listener
from tests.support.site import Site
from tests.support.wait import wait_until

# Now inside the afternoon slot, whatever the time of the run: a tap charges a half-day.
AFTERNOON_NOW = {"morning_start": "00:00", "noon": "00:01", "afternoon_end": "23:59"}
FAST = BridgeTuning(refresh_s=0.3, press_gap_s=0.5)
PREFIX = "homeassistant"
# Door, lock, reader, three counts and the nine alarms; and one more config topic, the button (or its removal).
ENTITIES = 15


@pytest.fixture
def ha_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """The site's own broker, where its Home Assistant listens (not halfday's local bus)."""
    yield from running_broker(tmp_path_factory.mktemp("ha-mosquitto"))


class Watcher(Listener):
    """Everything on the site's broker, the latest payload of each topic kept."""

    def __init__(self, broker: Mosquitto) -> None:
        super().__init__(broker, f"{PREFIX}/#", "halfday/#")
        self.latest: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.client.on_message = self._keep

    def _keep(self, message: Message) -> None:
        with self._lock:
            self.latest[message.topic] = message.payload

    def get(self, topic: str) -> bytes | None:
        with self._lock:
            return self.latest.get(topic)

    def configs(self) -> dict[str, bytes]:
        with self._lock:
            return {t: p for t, p in self.latest.items() if t.startswith(f"{PREFIX}/") and t.endswith("/config")}

    def forget(self) -> None:
        with self._lock:
            self.latest.clear()


@pytest.fixture
def setup(
    new_site: Callable[..., Site], broker: Mosquitto, ha_broker: Mosquitto
) -> Iterator[Callable[..., tuple[Site, Bridge, Watcher]]]:
    started: list[tuple[Bridge, threading.Thread, Watcher]] = []

    def start(**homeassistant: Any) -> tuple[Site, Bridge, Watcher]:
        site = new_site(
            bus_url=f"mqtt://127.0.0.1:{broker.port}",
            overrides={
                "slots": AFTERNOON_NOW,
                "kiosk": {"late_minutes": 0},
                "homeassistant": {"url": f"mqtt://127.0.0.1:{ha_broker.port}", **homeassistant},
            },
        )
        watcher = Watcher(ha_broker)
        bridge = Bridge(site.config, tuning=FAST)
        bridge.start()
        thread = threading.Thread(target=bridge.run, daemon=True)
        thread.start()
        started.append((bridge, thread, watcher))
        return site, bridge, watcher

    yield start
    for bridge, thread, watcher in started:
        bridge.stopping.set()
        thread.join(5)
        bridge.stop()
        watcher.client.stop()


def node(site: Site) -> str:
    return f"halfday_{site.config.site.id}_{site.config.site.device}"


def state(watcher: Watcher, site: Site, object_id: str) -> bytes | None:
    return watcher.get(f"halfday/{node(site)}/{object_id}/state")


def test_the_discovery_set_passes_home_assistants_rules(setup: Callable[..., tuple[Site, Bridge, Watcher]]) -> None:
    site, _bridge, watcher = setup()
    n = node(site)
    assert wait_until(lambda: len(watcher.configs()) == ENTITIES + 1, 10), sorted(watcher.configs())
    configs = validate_set(PREFIX, watcher.configs())
    # A retained empty config removes an unlock button a former config may have advertised.
    assert watcher.get(f"{PREFIX}/button/{n}/unlock/config") == b""
    assert {t.split("/")[1] + ":" + t.split("/")[3] for t in configs} == {
        "binary_sensor:door",
        "binary_sensor:lock",
        "binary_sensor:reader",
        "sensor:present",
        "sensor:halfdays_today",
        "sensor:halfdays_month",
        *(
            f"binary_sensor:alarm_{code}"
            for code in ("forced", "held_open", "database", "reader", "clock", "roster", "backlog", "disk", "backup")
        ),
    }
    door = configs[f"{PREFIX}/binary_sensor/{n}/door/config"]
    assert door["device_class"] == "door" and door["device"]["name"] == site.config.site.name
    assert configs[f"{PREFIX}/binary_sensor/{n}/lock/config"]["device_class"] == "lock"
    assert configs[f"{PREFIX}/binary_sensor/{n}/alarm_forced/config"]["device_class"] == "problem"
    assert configs[f"{PREFIX}/binary_sensor/{n}/reader/config"]["entity_category"] == "diagnostic"
    assert configs[f"{PREFIX}/sensor/{n}/halfdays_month/config"]["state_class"] == "total_increasing"
    assert not any("command_topic" in c for c in configs.values())
    assert wait_until(lambda: watcher.get(f"halfday/{n}/availability") == b"online", 5)
    assert wait_until(lambda: state(watcher, site, "alarm_forced") == b"OFF", 5)


def test_the_validator_refuses_what_home_assistant_refuses() -> None:
    good = {"name": "Porte", "unique_id": "x_door", "state_topic": "halfday/x/door/state", "device_class": "door"}
    assert validate(PREFIX, f"{PREFIX}/binary_sensor/x/door/config", json.dumps(good).encode())[1] is not None
    refused = [
        (f"{PREFIX}/binary_sensor/x/do.or/config", good),  # a dot in the object id
        (f"{PREFIX}/binary_sensor/x/door/config", {**good, "state_topic": None}),
        (f"{PREFIX}/binary_sensor/x/door/config", {k: v for k, v in good.items() if k != "state_topic"}),
        (f"{PREFIX}/binary_sensor/x/door/config", {**good, "device_class": "portal"}),
        (f"{PREFIX}/binary_sensor/x/door/config", {**good, "colour": "red"}),  # extra keys not allowed
        (f"{PREFIX}/binary_sensor/x/door/config", {**good, "device": {"name": "no identifiers"}}),
        (
            f"{PREFIX}/binary_sensor/x/door/config",
            {**good, "availability_topic": "a", "availability": [{"topic": "a"}]},
        ),
        (f"{PREFIX}/sensor/x/n/config", {"unique_id": "n", "state_topic": "s", "state_class": "sum"}),
        (f"{PREFIX}/button/x/b/config", {"unique_id": "b", "command_topic": "halfday/+/press"}),
        (f"{PREFIX}/button/x/b/config", {"unique_id": "b"}),
    ]
    for topic, payload in refused:
        with pytest.raises(Invalid):
            validate(PREFIX, topic, json.dumps(payload).encode())


def test_states_follow_a_forced_door_and_a_tap(
    setup: Callable[..., tuple[Site, Bridge, Watcher]], door_rig: Callable[..., DoorRig]
) -> None:
    site, _bridge, watcher = setup()
    assert wait_until(lambda: state(watcher, site, "halfdays_today") is not None, 10)
    today = int(state(watcher, site, "halfdays_today") or b"0")
    present = int(state(watcher, site, "present") or b"0")
    rig = door_rig(site, use_bus=True)
    rig.start()
    assert wait_until(lambda: state(watcher, site, "door") == b"OFF" and state(watcher, site, "lock") == b"OFF", 10)
    assert state(watcher, site, "reader") == b"ON"
    rig.set_door(True)  # forced
    assert wait_until(lambda: state(watcher, site, "door") == b"ON", 5)
    assert wait_until(lambda: state(watcher, site, "alarm_forced") == b"ON", 5)
    rig.set_door(False)
    assert wait_until(lambda: state(watcher, site, "alarm_forced") == b"OFF", 5)
    rig.tap(ALICE)
    assert wait_until(lambda: state(watcher, site, "halfdays_today") == str(today + 1).encode(), 5)
    assert state(watcher, site, "present") == str(present + 1).encode()
    assert int(state(watcher, site, "halfdays_month") or b"0") >= today + 1


def test_without_allow_unlock_a_press_opens_nothing(
    setup: Callable[..., tuple[Site, Bridge, Watcher]], broker: Mosquitto, ha_broker: Mosquitto
) -> None:
    site, bridge, watcher = setup()
    assert wait_until(lambda: len(watcher.configs()) == ENTITIES + 1, 10)
    commands = Listener(broker, bus.DOOR_CMD)
    try:
        watcher.client.publish(f"halfday/{node(site)}/unlock/press", b"PRESS")
        with pytest.raises(queue.Empty):
            commands.next(timeout=1.5)
        assert bridge.unlocks == 0
    finally:
        commands.client.stop()


def test_with_allow_unlock_a_press_opens_the_door_once_and_is_recorded(
    setup: Callable[..., tuple[Site, Bridge, Watcher]], door_rig: Callable[..., DoorRig], broker: Mosquitto
) -> None:
    site, bridge, watcher = setup(allow_unlock=True)
    n = node(site)
    assert wait_until(lambda: len(watcher.configs()) == ENTITIES + 1, 10)
    configs = validate_set(PREFIX, watcher.configs())
    button = configs[f"{PREFIX}/button/{n}/unlock/config"]
    assert button["command_topic"] == f"halfday/{n}/unlock/press"
    rig = door_rig(site, use_bus=True)
    rig.start()
    door_replies = Listener(broker, bus.DOOR_REPLY)
    replies = door_replies.messages
    try:
        watcher.client.publish(button["command_topic"], b"PRESS")
        watcher.client.publish(button["command_topic"], b"PRESS")  # a double tap in the app: one opening
        assert wait_message(replies, bus.Reply, 5, lambda r: r.reason == bus.Reply.UNLOCKED)
        assert wait_until(lambda: rig.relay_states()[:2] == [False, True], 3)
        unlocks = rig.wait_events(1, "unlock")
        assert [(e.data["by"], e.data.get("ref")) for e in unlocks] == [("manager", "homeassistant")]
        time.sleep(0.5)
        assert bridge.unlocks == 1 and len(rig.events("unlock")) == 1
    finally:
        door_replies.client.stop()


def test_everything_is_published_again_when_home_assistant_comes_back(
    setup: Callable[..., tuple[Site, Bridge, Watcher]],
) -> None:
    site, _bridge, watcher = setup()
    assert wait_until(lambda: len(watcher.configs()) == ENTITIES + 1, 10)
    watcher.forget()
    watcher.client.publish(f"{PREFIX}/status", b"offline")
    time.sleep(0.5)
    assert watcher.configs() == {}  # nothing is sent again for Home Assistant going away
    watcher.client.publish(f"{PREFIX}/status", b"online")
    assert wait_until(lambda: len(watcher.configs()) == ENTITIES + 1, 5)
    assert wait_until(lambda: state(watcher, site, "alarm_backup") == b"OFF", 5)


def test_the_bridge_says_offline_when_it_stops(setup: Callable[..., tuple[Site, Bridge, Watcher]]) -> None:
    site, bridge, watcher = setup()
    topic = f"halfday/{node(site)}/availability"
    assert wait_until(lambda: watcher.get(topic) == b"online", 10)
    bridge.stopping.set()
    bridge.stop()
    assert wait_until(lambda: watcher.get(topic) == b"offline", 5)


def test_the_local_bus_is_never_home_assistants_broker(write_config: Callable[..., Path]) -> None:
    from access.config import load_config

    with pytest.raises(ConfigError, match=r"homeassistant\.url.*bus local"):
        load_config(write_config({"homeassistant": {"url": "mqtt://localhost:1883"}}))
    with pytest.raises(ConfigError, match=r"homeassistant\.allow_unlock.*mqtts"):
        load_config(write_config({"homeassistant": {"url": "mqtt://192.168.1.20:1883", "allow_unlock": True}}))
    with pytest.raises(ConfigError, match=r"homeassistant\.node_id"):
        load_config(write_config({"homeassistant": {"url": "mqtt://192.168.1.20:1883", "node_id": "a/b"}}))
    config = load_config(write_config({"homeassistant": {"url": "mqtts://maison.example:8883", "allow_unlock": True}}))
    assert config.homeassistant is not None and config.homeassistant.allow_unlock
    assert config.homeassistant.discovery_prefix == "homeassistant"
    assert load_config(write_config()).homeassistant is None


def test_the_entities_are_named_in_the_sites_language(write_config: Callable[..., Path]) -> None:
    """French by default; the kiosk's language otherwise, or [homeassistant] language: every name translated, and
    the English set passes the same rules."""
    from access.config import load_config

    ha = {"url": "mqtts://maison.example:8883", "allow_unlock": True}
    french = load_config(write_config({"homeassistant": ha})).homeassistant
    assert french is not None and french.language == "fr"
    english = load_config(write_config({"homeassistant": ha, "kiosk": {"language": "en"}})).homeassistant
    assert english is not None and english.language == "en"
    said = load_config(write_config({"homeassistant": {**ha, "language": "fr"}, "kiosk": {"language": "en"}}))
    assert said.homeassistant is not None and said.homeassistant.language == "fr"
    with pytest.raises(ConfigError, match=r"homeassistant\.language"):
        load_config(write_config({"homeassistant": {**ha, "language": "de"}}))
    sets = {
        language: Discovery(PREFIX, "n", "Le Local", allow_unlock=True, language=language).configs()
        for language in ("fr", "en")
    }
    names = {
        language: {topic: json.loads(payload)["name"] for topic, payload in found if payload}
        for language, found in sets.items()
    }
    assert names["en"][f"{PREFIX}/binary_sensor/n/door/config"] == "Door"
    assert names["fr"][f"{PREFIX}/binary_sensor/n/door/config"] == "Porte"
    assert names["en"][f"{PREFIX}/button/n/unlock/config"] == "Open the door"
    # Each entity has a name of its own in each language, and no English name is left in French.
    for language in ("fr", "en"):
        assert len(set(names[language].values())) == len(names[language])
        validate_set(PREFIX, dict(sets[language]))
    assert not set(names["en"].values()) & set(names["fr"].values())
