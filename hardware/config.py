"""The `[hardware]` section of the site's TOML config, validated into frozen dataclasses.

`HardwareConfig.from_dict` takes the *content* of the `[hardware]` table (``toml["hardware"]``) and raises
`HardwareConfigError` naming the dotted key ("hardware.lock.pin") and the problem, in French.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

PinFactoryName = Literal["mock", "lgpio", "rpigpio"]
Wiring = Literal["fail-secure", "fail-safe"]
Level = Literal["low", "high"]

PIN_FACTORIES: tuple[PinFactoryName, ...] = ("mock", "lgpio", "rpigpio")
WIRINGS: tuple[Wiring, ...] = ("fail-secure", "fail-safe")
LEVELS: tuple[Level, ...] = ("low", "high")
# Bit rates and technologies nfcpy's RemoteTarget understands.
NFC_TARGETS = ("106A", "212A", "424A", "106B", "212B", "424B", "212F", "424F")

# A reed switch chatters for a few milliseconds as the magnet passes; 50 ms hides that and is far shorter than
# the time a door takes to swing.
DOOR_SENSOR_DEBOUNCE_S = 0.05
# Push buttons bounce for 5-20 ms. Requiring the level to hold 50 ms also ignores a spike picked up by a long
# cable, which would otherwise unlock the door; a person cannot notice 50 ms.
EXIT_BUTTON_DEBOUNCE_S = 0.05
# A member who holds the badge against the reader, or taps twice out of habit, makes one tap.
READER_DEBOUNCE_S = 2.0

MAX_GPIO = 27  # BCM numbering of the 40-pin header: GPIO0..GPIO27
_MAX_INPUT_DEBOUNCE_S = 1.0
_MAX_READER_DEBOUNCE_S = 60.0
# The PN532 on the Pi's own UART uses GPIO14/15 (TXD/RXD); a relay there would fight the reader.
_UART_PINS = {14: "TXD", 15: "RXD"}
_UART_PATHS = ("tty:AMA0", "tty:S0", "tty:serial0")
_PATH_RE = re.compile(r"^(usb(:[0-9A-Za-z]+){0,2}|(tty|com):[0-9A-Za-z_.-]+(:[0-9A-Za-z_]+)?|udp(:[^:\s]+)?(:\d+)?)$")


class HardwareConfigError(ValueError):
    """A bad value in `[hardware]`: `key` is the dotted path, `problem` says what is wrong (in French)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} : {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class LockConfig:
    pin: int = 17
    active_high: bool = True  # relay module polarity: True when a high pin energises the relay
    wiring: Wiring = "fail-secure"  # fail-secure: energised = unlocked; fail-safe (maglock): energised = locked


@dataclass(frozen=True)
class DoorSensorConfig:
    pin: int = 27
    closed_when: Level = "low"  # level read when the door is closed (input has the Pi's pull-up)
    debounce_s: float = DOOR_SENSOR_DEBOUNCE_S


@dataclass(frozen=True)
class ExitButtonConfig:
    pin: int = 22  # pressed = low (button to ground, the Pi's pull-up)
    debounce_s: float = EXIT_BUTTON_DEBOUNCE_S


@dataclass(frozen=True)
class IndicatorConfig:
    green_pin: int | None = None  # None: not fitted
    red_pin: int | None = None
    buzzer_pin: int | None = None


@dataclass(frozen=True)
class ReaderConfig:
    path: str  # nfcpy path: "usb", "tty:AMA0:pn532", "udp:HOST:PORT" (udp = simulated reader)
    targets: tuple[str, ...] = ("106A",)  # nfcpy waits up to 1 s per absent type: list only what badges use
    debounce_s: float = READER_DEBOUNCE_S


@dataclass(frozen=True)
class HardwareConfig:
    pin_factory: PinFactoryName
    reader: ReaderConfig
    lock: LockConfig = field(default_factory=LockConfig)
    door_sensor: DoorSensorConfig | None = None
    exit_button: ExitButtonConfig | None = None
    indicator: IndicatorConfig = field(default_factory=IndicatorConfig)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> HardwareConfig:
        """Validate the `[hardware]` table; raise `HardwareConfigError` on the first problem found."""
        top = _Table(d, "hardware")
        factory = top.choice("pin_factory", PIN_FACTORIES, default=None)
        lock = _lock(top.table("lock"))
        door_sensor = _door_sensor(top.table("door_sensor"))
        exit_button = _exit_button(top.table("exit_button"))
        indicator = _indicator(top.table("indicator"))
        reader = _reader(top.table("reader"))
        top.reject_unknown()
        cfg = cls(
            pin_factory=cast(PinFactoryName, factory),
            reader=reader,
            lock=lock,
            door_sensor=door_sensor,
            exit_button=exit_button,
            indicator=indicator,
        )
        _check_pins(cfg)
        return cfg

    def pins(self) -> dict[str, int]:
        """Every GPIO the config uses, by dotted key, in the order devices are built."""
        found: dict[str, int] = {"hardware.lock.pin": self.lock.pin}
        if self.door_sensor is not None:
            found["hardware.door_sensor.pin"] = self.door_sensor.pin
        if self.exit_button is not None:
            found["hardware.exit_button.pin"] = self.exit_button.pin
        for name in ("green_pin", "red_pin", "buzzer_pin"):
            pin = getattr(self.indicator, name)
            if pin is not None:
                found[f"hardware.indicator.{name}"] = pin
        return found


_MISSING = object()


class _Table:
    """One TOML table being read: typed getters that name the key, and a check for unknown keys."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise HardwareConfigError(path, "doit être une table")
        self.data: Mapping[str, object] = data
        self.path = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def raw(self, name: str) -> object:
        self.seen.add(name)
        return self.data.get(name, _MISSING)

    def table(self, name: str) -> _Table | None:
        value = self.raw(name)
        return None if value is _MISSING else _Table(value, self.key(name))

    def pin(self, name: str, default: int | None) -> int | None:
        value = self.raw(name)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GPIO:
            raise HardwareConfigError(self.key(name), f"doit être un entier entre 0 et {MAX_GPIO}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise HardwareConfigError(self.key(name), "doit valoir true ou false")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None) -> str:
        value = self.raw(name)
        if value is _MISSING:
            if default is None:
                raise HardwareConfigError(self.key(name), "obligatoire : " + _one_of(allowed))
            return default
        if value not in allowed:
            raise HardwareConfigError(self.key(name), "doit valoir " + _one_of(allowed))
        return value

    def seconds(self, name: str, default: float, maximum: float) -> float:
        value = self.raw(name)
        if value is _MISSING:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= maximum
        ):
            raise HardwareConfigError(self.key(name), f"doit être un nombre de secondes entre 0 et {maximum:g}")
        return float(value)

    def reject_unknown(self) -> None:
        for name in self.data:
            if name not in self.seen:
                raise HardwareConfigError(self.key(name), "clé inconnue")


def _one_of(allowed: tuple[str, ...]) -> str:
    quoted = [f"« {a} »" for a in allowed]
    return ", ".join(quoted[:-1]) + " ou " + quoted[-1] if len(quoted) > 1 else quoted[0]


def _required_pin(t: _Table, name: str, default: int) -> int:
    pin = t.pin(name, default)
    assert pin is not None  # a default is given
    return pin


def _lock(t: _Table | None) -> LockConfig:
    if t is None:
        return LockConfig()
    d = LockConfig()
    cfg = LockConfig(
        pin=_required_pin(t, "pin", d.pin),
        active_high=t.flag("active_high", d.active_high),
        wiring=cast(Wiring, t.choice("wiring", WIRINGS, default=d.wiring)),
    )
    t.reject_unknown()
    return cfg


def _door_sensor(t: _Table | None) -> DoorSensorConfig | None:
    if t is None:
        return None
    d = DoorSensorConfig()
    cfg = DoorSensorConfig(
        pin=_required_pin(t, "pin", d.pin),
        closed_when=cast(Level, t.choice("closed_when", LEVELS, default=d.closed_when)),
        debounce_s=t.seconds("debounce_s", d.debounce_s, _MAX_INPUT_DEBOUNCE_S),
    )
    t.reject_unknown()
    return cfg


def _exit_button(t: _Table | None) -> ExitButtonConfig | None:
    if t is None:
        return None
    d = ExitButtonConfig()
    cfg = ExitButtonConfig(
        pin=_required_pin(t, "pin", d.pin),
        debounce_s=t.seconds("debounce_s", d.debounce_s, _MAX_INPUT_DEBOUNCE_S),
    )
    t.reject_unknown()
    return cfg


def _indicator(t: _Table | None) -> IndicatorConfig:
    if t is None:
        return IndicatorConfig()
    cfg = IndicatorConfig(
        green_pin=t.pin("green_pin", None), red_pin=t.pin("red_pin", None), buzzer_pin=t.pin("buzzer_pin", None)
    )
    t.reject_unknown()
    return cfg


def _reader(t: _Table | None) -> ReaderConfig:
    # No default path: a default would pick a reader (or the simulator) the site never named.
    if t is None:
        raise HardwareConfigError("hardware.reader.path", "obligatoire (chemin nfcpy du lecteur)")
    path = t.raw("path")
    if path is _MISSING:
        raise HardwareConfigError(t.key("path"), "obligatoire (chemin nfcpy du lecteur)")
    if not isinstance(path, str) or not _PATH_RE.match(path) or not _port_ok(path):
        raise HardwareConfigError(
            t.key("path"), "doit être un chemin nfcpy : « usb », « tty:PORT:PILOTE » ou « udp:HÔTE:PORT »"
        )
    targets = t.raw("targets")
    if targets is _MISSING:
        targets = list(ReaderConfig.targets)
    if (
        not isinstance(targets, list)
        or not targets
        or any(x not in NFC_TARGETS for x in targets)
        or len(set(targets)) != len(targets)
    ):
        raise HardwareConfigError(t.key("targets"), "doit être une liste sans doublon parmi " + ", ".join(NFC_TARGETS))
    cfg = ReaderConfig(
        path=path,
        targets=tuple(cast(list[str], targets)),
        debounce_s=t.seconds("debounce_s", READER_DEBOUNCE_S, _MAX_READER_DEBOUNCE_S),
    )
    t.reject_unknown()
    return cfg


def _port_ok(path: str) -> bool:
    if not path.startswith("udp:"):
        return True
    last = path.rsplit(":", 1)[1]
    return not last.isdigit() or 1 <= int(last) <= 65535


def _check_pins(cfg: HardwareConfig) -> None:
    owner: dict[int, str] = {}
    serial_reader = cfg.reader.path.startswith(_UART_PATHS)
    for key, pin in cfg.pins().items():
        if pin in owner:
            raise HardwareConfigError(key, f"broche {pin} déjà utilisée par {owner[pin]}")
        if serial_reader and pin in _UART_PINS:
            raise HardwareConfigError(key, f"broche {pin} ({_UART_PINS[pin]}) réservée au lecteur série")
        owner[pin] = key
