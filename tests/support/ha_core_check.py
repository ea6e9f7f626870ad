"""Run by Home Assistant's own Python (a separate virtualenv with homeassistant installed, never halfday's): checks
discovery configs, read as JSON [[component, config], ...] on stdin, against Home Assistant's MQTT discovery schemas,
and prints one line per problem, then "ok" or the count. Imports nothing of halfday."""

import json
import sys

from homeassistant.components.mqtt import binary_sensor, button, sensor

SCHEMAS = {
    "binary_sensor": binary_sensor.DISCOVERY_SCHEMA,
    "sensor": sensor.DISCOVERY_SCHEMA,
    "button": button.DISCOVERY_SCHEMA,
}


def main() -> int:
    problems = 0
    for component, config in json.load(sys.stdin):
        try:
            kept = SCHEMAS[component](config)
        except Exception as exc:  # voluptuous's Invalid, or an unknown component
            print(f"refused {component} {config.get('unique_id')}: {exc}")
            problems += 1
            continue
        dropped = set(config) - set(kept)
        if dropped:  # a key Home Assistant would silently ignore is a key we got wrong
            print(f"ignored {component} {config.get('unique_id')}: {sorted(dropped)}")
            problems += 1
    print("ok" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
