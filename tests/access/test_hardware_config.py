import copy
import dataclasses
import tomllib
from typing import Any

import pytest

from access.config import read_hardware
from common.config import ConfigError, Table
from hardware.config import (
    DOOR_SENSOR_DEBOUNCE_S,
    READER_DEBOUNCE_S,
    DoorSensorConfig,
    ExitButtonConfig,
    HardwareConfig,
    IndicatorConfig,
    LockConfig,
    ReaderConfig,
)


def parse(section: dict[str, Any]) -> HardwareConfig:
    """The [hardware] table of a site's config, read as the config reader reads it."""
    return read_hardware(Table(section, "hardware"))


SITE_TOML = """
[hardware]
pin_factory = "mock"
[hardware.lock]
pin = 17
active_high = false
wiring = "fail-safe"
[hardware.door_sensor]
pin = 27
closed_when = "high"
[hardware.exit_button]
pin = 22
debounce_s = 0.1
[hardware.indicator]
green_pin = 5
buzzer_pin = 13
[hardware.reader]
path = "udp:127.0.0.1:54321"
targets = ["106A", "212F"]
debounce_s = 1.5
"""

MINIMAL: dict[str, Any] = {"pin_factory": "mock", "reader": {"path": "usb"}}


def test_site_toml_is_read_into_dataclasses() -> None:
    cfg = parse(tomllib.loads(SITE_TOML)["hardware"])
    assert cfg == HardwareConfig(
        pin_factory="mock",
        lock=LockConfig(pin=17, active_high=False, wiring="fail-safe"),
        door_sensor=DoorSensorConfig(pin=27, closed_when="high", debounce_s=DOOR_SENSOR_DEBOUNCE_S),
        exit_button=ExitButtonConfig(pin=22, debounce_s=0.1),
        indicator=IndicatorConfig(green_pin=5, red_pin=None, buzzer_pin=13),
        reader=ReaderConfig(path="udp:127.0.0.1:54321", targets=("106A", "212F"), debounce_s=1.5),
    )


def test_defaults_and_optional_devices_absent() -> None:
    cfg = parse(MINIMAL)
    assert cfg.lock == LockConfig(pin=17, active_high=True, wiring="fail-secure")
    assert cfg.door_sensor is None and cfg.exit_button is None
    assert cfg.indicator == IndicatorConfig(None, None, None)
    assert cfg.reader == ReaderConfig(path="usb", targets=("106A",), debounce_s=READER_DEBOUNCE_S)
    assert cfg.pins() == {"hardware.lock.pin": 17}


def test_empty_optional_sections_take_defaults() -> None:
    cfg = parse({**MINIMAL, "door_sensor": {}, "exit_button": {}})
    assert cfg.door_sensor == DoorSensorConfig(pin=27, closed_when="low")
    assert cfg.exit_button == ExitButtonConfig(pin=22)


def test_config_is_frozen() -> None:
    cfg = parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lock.pin = 4  # type: ignore[misc]


def _with(path: str, value: Any) -> dict[str, Any]:
    """MINIMAL with `value` set at dotted `path` (under [hardware])."""
    d = copy.deepcopy(MINIMAL)
    *tables, last = path.split(".")
    node = d
    for name in tables:
        node = node.setdefault(name, {})
    node[last] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "key", "problem"),
    [
        ("pin_factory", "gpio", "hardware.pin_factory", "doit valoir « mock », « lgpio » ou « rpigpio »"),
        ("lock.pin", 28, "hardware.lock.pin", "doit être un entier entre 0 et 27"),
        ("lock.pin", -1, "hardware.lock.pin", "doit être un entier entre 0 et 27"),
        ("lock.pin", "17", "hardware.lock.pin", "doit être un entier entre 0 et 27"),
        ("lock.pin", True, "hardware.lock.pin", "doit être un entier entre 0 et 27"),
        ("lock.active_high", "yes", "hardware.lock.active_high", "doit être true ou false"),
        ("lock.wiring", "fail-open", "hardware.lock.wiring", "« fail-secure » ou « fail-safe »"),
        ("lock.pine", 3, "hardware.lock.pine", "clé inconnue"),
        ("lcok", {}, "hardware.lcok", "clé inconnue"),
        ("door_sensor", 27, "hardware.door_sensor", "doit être une section"),
        ("door_sensor.closed_when", "closed", "hardware.door_sensor.closed_when", "« low » ou « high »"),
        ("door_sensor.debounce_s", 5, "hardware.door_sensor.debounce_s", "entre 0 et 1"),
        ("exit_button.debounce_s", -0.1, "hardware.exit_button.debounce_s", "entre 0 et 1"),
        ("exit_button.colour", "red", "hardware.exit_button.colour", "clé inconnue"),
        ("indicator.red_pin", 40, "hardware.indicator.red_pin", "entre 0 et 27"),
        ("indicator.red_pin", 17, "hardware.indicator.red_pin", "broche 17 déjà utilisée par hardware.lock.pin"),
        ("reader.path", "serial", "hardware.reader.path", "chemin nfcpy"),
        ("reader.path", "udp:127.0.0.1:70000", "hardware.reader.path", "chemin nfcpy"),
        ("reader.path", 3, "hardware.reader.path", "chemin nfcpy"),
        ("reader.targets", [], "hardware.reader.targets", "liste sans doublon"),
        ("reader.targets", ["106C"], "hardware.reader.targets", "liste sans doublon"),
        ("reader.targets", "106A", "hardware.reader.targets", "liste sans doublon"),
        ("reader.targets", ["106A", "106A"], "hardware.reader.targets", "liste sans doublon"),
        ("reader.debounce_s", "2", "hardware.reader.debounce_s", "doit être un nombre"),
        ("reader.debounce_s", float("nan"), "hardware.reader.debounce_s", "nombre de secondes"),
        ("reader.speed", 1, "hardware.reader.speed", "clé inconnue"),
    ],
)
def test_bad_value_names_key_and_problem(path: str, value: Any, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_with(path, value))
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert isinstance(caught.value, ValueError)
    assert f"« {key} »" in str(caught.value)


def test_pin_factory_is_required() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"reader": {"path": "usb"}})
    assert caught.value.key == "hardware.pin_factory"
    assert "obligatoire" in caught.value.problem


def test_reader_path_is_required() -> None:
    # No default reader: a default would run the simulator, or a reader, that the site never named.
    for section in ({"pin_factory": "mock"}, {"pin_factory": "mock", "reader": {}}):
        with pytest.raises(ConfigError) as caught:
            parse(section)
        assert caught.value.key == "hardware.reader.path"


def test_second_user_of_a_pin_is_named() -> None:
    d = {**MINIMAL, "door_sensor": {"pin": 5}, "indicator": {"green_pin": 6, "buzzer_pin": 5}}
    with pytest.raises(ConfigError) as caught:
        parse(d)
    assert caught.value.key == "hardware.indicator.buzzer_pin"
    assert "hardware.door_sensor.pin" in caught.value.problem


def test_serial_reader_pins_are_reserved() -> None:
    d = {"pin_factory": "lgpio", "reader": {"path": "tty:AMA0:pn532"}, "indicator": {"green_pin": 14}}
    with pytest.raises(ConfigError) as caught:
        parse(d)
    assert caught.value.key == "hardware.indicator.green_pin"
    assert "lecteur série" in caught.value.problem
    d["reader"] = {"path": "usb"}
    assert parse(d).indicator.green_pin == 14
