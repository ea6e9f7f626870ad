"""What the site shows Home Assistant, as pure values: the discovery set (one retained config per entity, in Home
Assistant's documented MQTT discovery format) and each entity's state payload from what the bridge knows.

The format (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery): a config is published, retained, on
`<discovery_prefix>/<component>/<node_id>/<object_id>/config`; each names its own state topic, shares the device
block (so Home Assistant groups the entities under one device) and the availability topic, which the bridge's last
will sets to "offline". Full key names, no abbreviations: they are easier to read in a broker's explorer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from common.words import Alarm

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
ON, OFF = "ON", "OFF"
PRESS = "PRESS"
# What each entity and each alarm is called in Home Assistant, in the site's language ([homeassistant] language, else
# the kiosk's): Home Assistant shows names as given. Two tables: an alarm's code may be an entity's too ("reader").
NAMES: dict[str, dict[str, str]] = {
    "fr": {
        "door": "Porte",
        "lock": "Serrure déverrouillée",
        "reader": "Lecteur de badges",
        "present": "Personnes présentes",
        "halfdays_today": "Demi-journées aujourd'hui",
        "halfdays_month": "Demi-journées du mois",
        "unlock": "Ouvrir la porte",
        "model": "Porte et kiosque",
    },
    "en": {
        "door": "Door",
        "lock": "Lock unlocked",
        "reader": "Badge reader",
        "present": "People present",
        "halfdays_today": "Half-days today",
        "halfdays_month": "Half-days this month",
        "unlock": "Open the door",
        "model": "Door and kiosk",
    },
}
ALARM_NAMES: dict[str, dict[Alarm, str]] = {
    "fr": {
        Alarm.FORCED: "Alarme porte forcée",
        Alarm.HELD_OPEN: "Alarme porte restée ouverte",
        Alarm.DATABASE: "Alarme registre illisible",
        Alarm.READER: "Alarme lecteur absent",
        Alarm.CLOCK: "Alarme horloge non fiable",
        Alarm.ROSTER: "Alarme liste des membres trop ancienne",
        Alarm.BACKLOG: "Alarme passages non transmis",
        Alarm.DISK: "Alarme disque presque plein",
        Alarm.BACKUP: "Alarme sauvegarde en échec",
    },
    "en": {
        Alarm.FORCED: "Alarm door forced",
        Alarm.HELD_OPEN: "Alarm door held open",
        Alarm.DATABASE: "Alarm ledger unreadable",
        Alarm.READER: "Alarm reader missing",
        Alarm.CLOCK: "Alarm clock not trusted",
        Alarm.ROSTER: "Alarm member list too old",
        Alarm.BACKLOG: "Alarm entries not sent",
        Alarm.DISK: "Alarm disk nearly full",
        Alarm.BACKUP: "Alarm backup failed",
    },
}


@dataclass(frozen=True)
class Entity:
    component: str  # binary_sensor, sensor, button
    object_id: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Discovery:
    """The entities of one door's node: `node_id` is unique on the site's broker (config [homeassistant])."""

    prefix: str
    node_id: str
    site_name: str
    allow_unlock: bool = False
    version: str = ""
    language: str = "fr"

    def name(self, key: str) -> str:
        return NAMES.get(self.language, NAMES["fr"])[key]

    def alarm_name(self, alarm: Alarm) -> str:
        return ALARM_NAMES.get(self.language, ALARM_NAMES["fr"])[alarm]

    @property
    def base(self) -> str:
        """Where this node's states, availability and command live on the site's broker."""
        return f"halfday/{self.node_id}"

    @property
    def availability_topic(self) -> str:
        return f"{self.base}/availability"

    @property
    def command_topic(self) -> str:
        return f"{self.base}/unlock/press"

    @property
    def birth_topic(self) -> str:
        """Home Assistant says "online" here when it starts: every config and state is published again."""
        return f"{self.prefix}/status"

    def state_topic(self, object_id: str) -> str:
        return f"{self.base}/{object_id}/state"

    def config_topic(self, entity: Entity) -> str:
        return f"{self.prefix}/{entity.component}/{self.node_id}/{entity.object_id}/config"

    def entities(self) -> list[Entity]:
        """Every entity this node advertises; the unlock button only when the config allows it."""
        found = [
            self._binary("door", "door"),
            # Home Assistant's "lock" device class: on means unlocked.
            self._binary("lock", "lock"),
            self._binary("reader", "connectivity", diagnostic=True),
            self._sensor("present", "measurement"),
            self._sensor("halfdays_today", "total_increasing"),
            self._sensor("halfdays_month", "total_increasing"),
        ]
        found += [self._binary(f"alarm_{alarm.value}", "problem", name=self.alarm_name(alarm)) for alarm in Alarm]
        if self.allow_unlock:
            found.append(self._button())
        return found

    def removed(self) -> list[Entity]:
        """Entities once advertised that this config no longer has (their retained config is emptied)."""
        return [] if self.allow_unlock else [Entity("button", "unlock", {})]

    def _common(self, object_id: str, name: str) -> dict[str, Any]:
        device: dict[str, Any] = {
            "identifiers": [self.node_id],
            "name": self.site_name,
            "manufacturer": "halfday",
            "model": self.name("model"),
        }
        if self.version:
            device["sw_version"] = self.version
        return {
            "name": name,
            "unique_id": f"{self.node_id}_{object_id}",
            "availability": [
                {
                    "topic": self.availability_topic,
                    "payload_available": AVAILABLE,
                    "payload_not_available": NOT_AVAILABLE,
                }
            ],
            "device": device,
            "origin": {"name": "halfday"},
        }

    def _binary(
        self, object_id: str, device_class: str, *, diagnostic: bool = False, name: str | None = None
    ) -> Entity:
        config = {
            **self._common(object_id, name or self.name(object_id)),
            "state_topic": self.state_topic(object_id),
            "payload_on": ON,
            "payload_off": OFF,
            "device_class": device_class,
        }
        if diagnostic:
            config["entity_category"] = "diagnostic"
        return Entity("binary_sensor", object_id, config)

    def _sensor(self, object_id: str, state_class: str) -> Entity:
        config = {
            **self._common(object_id, self.name(object_id)),
            "state_topic": self.state_topic(object_id),
            "state_class": state_class,
        }
        return Entity("sensor", object_id, config)

    def _button(self) -> Entity:
        config = {
            **self._common("unlock", self.name("unlock")),
            "command_topic": self.command_topic,
            "payload_press": PRESS,
        }
        return Entity("button", "unlock", config)

    def configs(self) -> list[tuple[str, bytes]]:
        """(topic, payload) of every config to publish retained; an empty payload removes an entity."""
        messages = [(self.config_topic(e), json.dumps(e.config, ensure_ascii=False).encode()) for e in self.entities()]
        messages += [(self.config_topic(e), b"") for e in self.removed()]
        return messages


@dataclass
class SiteView:
    """What the bridge knows of the site: the door from the local bus (None: not heard), the rest from the ledger."""

    door_open: bool | None = None
    locked: bool | None = None
    reader_ok: bool | None = None
    present: int | None = None
    today: int | None = None
    month: int | None = None
    alarms: frozenset[Alarm] = field(default_factory=frozenset)

    def states(self, discovery: Discovery) -> dict[str, bytes]:
        """Each entity's state payload by state topic; an unknown fact publishes nothing."""
        values: dict[str, str | None] = {
            "door": _switch(self.door_open),
            "lock": _switch(None if self.locked is None else not self.locked),
            "reader": _switch(self.reader_ok),
            "present": _count(self.present),
            "halfdays_today": _count(self.today),
            "halfdays_month": _count(self.month),
        }
        values.update({f"alarm_{a.value}": (ON if a in self.alarms else OFF) for a in Alarm})
        return {discovery.state_topic(k): v.encode() for k, v in values.items() if v is not None}


def _switch(value: bool | None) -> str | None:
    return None if value is None else (ON if value else OFF)


def _count(value: int | None) -> str | None:
    return None if value is None else str(value)
