"""What the `[hardware]` section of the site's config says, as frozen dataclasses, and what only the hardware
knows about it: which reader paths nfcpy opens, which pins a serial reader needs. Reading the TOML table into
these is the config's job (access/config.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

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
MAX_INPUT_DEBOUNCE_S = 1.0
MAX_READER_DEBOUNCE_S = 60.0
# The PN532 on the Pi's own UART uses GPIO14/15 (TXD/RXD); a relay there would fight the reader.
_UART_PINS = {14: "TXD", 15: "RXD"}
_UART_PATHS = ("tty:AMA0", "tty:S0", "tty:serial0")
_PATH_RE = re.compile(r"^(usb(:[0-9A-Za-z]+){0,2}|(tty|com):[0-9A-Za-z_.-]+(:[0-9A-Za-z_]+)?|udp(:[^:\s]+)?(:\d+)?)$")


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


def reader_path_ok(path: str) -> bool:
    """Whether `path` is a reader path nfcpy understands: "usb", "tty:PORT:DRIVER" or "udp:HOST:PORT"."""
    if not _PATH_RE.match(path):
        return False
    if not path.startswith("udp:"):
        return True
    last = path.rsplit(":", 1)[1]
    return not last.isdigit() or 1 <= int(last) <= 65535


def pin_problem(cfg: HardwareConfig) -> tuple[str, str] | None:
    """The first pin used twice, or taken from the serial reader: (its dotted key, the problem in French)."""
    owner: dict[int, str] = {}
    serial_reader = cfg.reader.path.startswith(_UART_PATHS)
    for key, pin in cfg.pins().items():
        if pin in owner:
            return key, f"broche {pin} déjà utilisée par {owner[pin]}"
        if serial_reader and pin in _UART_PINS:
            return key, f"broche {pin} ({_UART_PINS[pin]}) réservée au lecteur série"
        owner[pin] = key
    return None
