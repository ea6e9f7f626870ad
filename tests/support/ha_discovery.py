"""A validator of Home Assistant MQTT discovery messages, written from Home Assistant's documented rules, to check
what the bridge publishes without Home Assistant itself (whose releases need a newer Python than this one).

Sources, read for this file (rules restated, no code taken):
- https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery : the topic
  `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`, node and object ids of letters, digits, `_` and
  `-`; a retained JSON object per entity, an empty payload removing it; the abbreviations; the `device` block, which
  needs `identifiers` or `connections`; `origin` with a required `name`; the birth message on
  `<discovery_prefix>/status`.
- home-assistant/core homeassistant/components/mqtt/discovery.py (TOPIC_MATCHER) and schemas.py (the device and
  availability schemas: `availability` and `availability_topic` exclusive, each availability entry needs `topic`).
- https://www.home-assistant.io/integrations/binary_sensor.mqtt/ , /sensor.mqtt/ , /button.mqtt/ : each platform's
  keys, `state_topic` required for sensors, `command_topic` for a button; extra keys are refused.
- https://www.home-assistant.io/integrations/binary_sensor/#device-class , /sensor/#device-class and the sensor
  entity's state classes (developers.home-assistant.io/docs/core/entity/sensor).
"""

from __future__ import annotations

import json
import re
from typing import Any

TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")

# A few of the documented abbreviations, expanded before checking (a payload may use either form).
ABBREVIATIONS = {
    "avty": "availability",
    "avty_t": "availability_topic",
    "avty_mode": "availability_mode",
    "cmd_t": "command_topic",
    "dev": "device",
    "dev_cla": "device_class",
    "ent_cat": "entity_category",
    "o": "origin",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "pl_on": "payload_on",
    "pl_off": "payload_off",
    "pl_prs": "payload_press",
    "stat_t": "state_topic",
    "stat_cla": "state_class",
    "t": "topic",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "ids": "identifiers",
    "cns": "connections",
    "mf": "manufacturer",
    "mdl": "model",
    "sw": "sw_version",
    "hw": "hw_version",
    "sa": "suggested_area",
    "cu": "configuration_url",
}
ORIGIN_ABBREVIATIONS = {"sw": "sw_version", "url": "support_url"}

COMMON_KEYS = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "device",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "default_entity_id",
    "origin",
    "payload_available",
    "payload_not_available",
    "platform",
    "qos",
    "unique_id",
}
PLATFORM_KEYS = {
    "binary_sensor": {
        "state_topic",
        "payload_on",
        "payload_off",
        "device_class",
        "value_template",
        "expire_after",
        "force_update",
        "off_delay",
    },
    "sensor": {
        "state_topic",
        "device_class",
        "state_class",
        "unit_of_measurement",
        "value_template",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "suggested_display_precision",
        "options",
    },
    "button": {"command_topic", "command_template", "payload_press", "device_class", "retain"},
}
REQUIRED = {"binary_sensor": {"state_topic"}, "sensor": {"state_topic"}, "button": {"command_topic"}}
BINARY_SENSOR_CLASSES = {
    "battery",
    "battery_charging",
    "carbon_monoxide",
    "cold",
    "connectivity",
    "door",
    "garage_door",
    "gas",
    "heat",
    "light",
    "lock",
    "moisture",
    "motion",
    "moving",
    "occupancy",
    "opening",
    "plug",
    "power",
    "presence",
    "problem",
    "running",
    "safety",
    "smoke",
    "sound",
    "tamper",
    "update",
    "vibration",
    "window",
}
SENSOR_STATE_CLASSES = {"measurement", "total", "total_increasing"}
BUTTON_CLASSES = {"identify", "restart", "update"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
DEVICE_KEYS = {
    "identifiers",
    "connections",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "hw_version",
    "serial_number",
    "sw_version",
    "via_device",
    "suggested_area",
    "configuration_url",
}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}


class Invalid(AssertionError):
    """A discovery message Home Assistant would refuse, and why."""


def _expand(payload: dict[str, Any], table: dict[str, str]) -> dict[str, Any]:
    return {table.get(key, key): value for key, value in payload.items()}


def _topic(value: Any, key: str, *, publish: bool) -> None:
    if not isinstance(value, str) or not value or len(value.encode()) > 65535 or "\0" in value:
        raise Invalid(f"{key}: not a valid MQTT topic: {value!r}")
    if publish and ("+" in value or "#" in value):
        raise Invalid(f"{key}: a topic published to may not hold wildcards: {value!r}")


def validate(prefix: str, topic: str, raw: bytes) -> tuple[str, dict[str, Any] | None]:
    """Check one discovery message; returns (component, expanded config), None for a removal."""
    if not topic.startswith(f"{prefix}/"):
        raise Invalid(f"{topic}: not under the discovery prefix {prefix}")
    match = TOPIC_MATCHER.fullmatch(topic[len(prefix) + 1 :])
    if match is None:
        raise Invalid(f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config")
    component = match["component"]
    if component not in PLATFORM_KEYS:
        raise Invalid(f"{topic}: component {component} is not one this validator knows")
    if raw == b"":
        return component, None
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise Invalid(f"{topic}: not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise Invalid(f"{topic}: the payload must be a JSON object")
    config = _expand(payload, ABBREVIATIONS)
    unknown = set(config) - COMMON_KEYS - PLATFORM_KEYS[component]
    if unknown:
        raise Invalid(f"{topic}: extra keys not allowed: {sorted(unknown)}")
    missing = REQUIRED[component] - set(config)
    if missing:
        raise Invalid(f"{topic}: required keys missing: {sorted(missing)}")
    for key in ("state_topic", "availability_topic", "json_attributes_topic"):
        if key in config:
            _topic(config[key], key, publish=False)
    if "command_topic" in config:
        _topic(config["command_topic"], "command_topic", publish=True)
    _availability(topic, config)
    _device(topic, config)
    _classes(topic, component, config)
    if "name" in config and config["name"] is not None and not isinstance(config["name"], str):
        raise Invalid(f"{topic}: name must be a string or null")
    if "unique_id" in config and not isinstance(config["unique_id"], str):
        raise Invalid(f"{topic}: unique_id must be a string")
    if config.get("qos", 0) not in (0, 1, 2):
        raise Invalid(f"{topic}: qos must be 0, 1 or 2")
    return component, config


def _availability(topic: str, config: dict[str, Any]) -> None:
    if "availability" in config and "availability_topic" in config:
        raise Invalid(f"{topic}: availability and availability_topic are exclusive")
    if config.get("availability_mode", "latest") not in ("all", "any", "latest"):
        raise Invalid(f"{topic}: availability_mode must be all, any or latest")
    entries = config.get("availability", [])
    for entry in entries if isinstance(entries, list) else [entries]:
        if not isinstance(entry, dict):
            raise Invalid(f"{topic}: each availability entry is an object")
        entry = _expand(entry, ABBREVIATIONS)
        if "topic" not in entry:
            raise Invalid(f"{topic}: an availability entry needs a topic")
        _topic(entry["topic"], "availability.topic", publish=False)
        if set(entry) - {"topic", "payload_available", "payload_not_available", "value_template"}:
            raise Invalid(f"{topic}: unknown keys in an availability entry")


def _device(topic: str, config: dict[str, Any]) -> None:
    if "device" in config:
        device = _expand(config["device"], DEVICE_ABBREVIATIONS)
        if set(device) - DEVICE_KEYS:
            raise Invalid(f"{topic}: unknown keys in device: {sorted(set(device) - DEVICE_KEYS)}")
        ids = device.get("identifiers")
        if isinstance(ids, str):
            ids = [ids]
        if not ids and not device.get("connections"):
            raise Invalid(f"{topic}: a device needs at least one of identifiers and connections")
        if ids and not all(isinstance(i, str) for i in ids):
            raise Invalid(f"{topic}: device identifiers are strings")
        config["device"] = {**device, "identifiers": ids or []}
        if "unique_id" not in config:
            raise Invalid(f"{topic}: an entity with a device needs a unique_id")
    if "origin" in config:
        origin = _expand(config["origin"], ORIGIN_ABBREVIATIONS)
        if not isinstance(origin.get("name"), str) or set(origin) - ORIGIN_KEYS:
            raise Invalid(f"{topic}: origin needs a name, and only name, sw_version and support_url")


def _classes(topic: str, component: str, config: dict[str, Any]) -> None:
    category = config.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        raise Invalid(f"{topic}: entity_category must be config or diagnostic")
    if component in ("sensor", "binary_sensor") and category == "config":
        raise Invalid(f"{topic}: a sensor's entity_category cannot be config")
    device_class = config.get("device_class")
    if component == "binary_sensor" and device_class is not None and device_class not in BINARY_SENSOR_CLASSES:
        raise Invalid(f"{topic}: unknown binary sensor device class {device_class}")
    if component == "button" and device_class is not None and device_class not in BUTTON_CLASSES:
        raise Invalid(f"{topic}: unknown button device class {device_class}")
    if component == "sensor":
        state_class = config.get("state_class")
        if state_class is not None and state_class not in SENSOR_STATE_CLASSES:
            raise Invalid(f"{topic}: unknown state class {state_class}")
        if device_class is not None and not isinstance(device_class, str):
            raise Invalid(f"{topic}: device_class must be a string")


def validate_set(prefix: str, messages: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Check a whole discovery set: each message, unique ids unique, one device for them all. Returns the live
    configs by topic (removals left out)."""
    configs: dict[str, dict[str, Any]] = {}
    for topic, raw in messages.items():
        _component, config = validate(prefix, topic, raw)
        if config is not None:
            configs[topic] = config
    unique = [c["unique_id"] for c in configs.values() if "unique_id" in c]
    if len(unique) != len(set(unique)):
        raise Invalid("two entities share a unique_id")
    devices = {tuple(c["device"]["identifiers"]) for c in configs.values() if "device" in c}
    if len(devices) > 1:
        raise Invalid(f"the entities name different devices: {devices}")
    return configs
