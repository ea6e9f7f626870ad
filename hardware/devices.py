"""Build the door's devices from `HardwareConfig`: one `Devices` bundle for GPIO, and the reader."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hardware.config import HardwareConfig, ReaderConfig
from hardware.gpio import GpioDoorSensor, GpioExitButton, GpioIndicator, GpioLock
from hardware.pins import PinFactory, make_pin_factory
from hardware.protocols import DoorSensor, ExitButton, Indicator, Lock, Reader, Tap
from hardware.reader import NfcReader


@dataclass
class Devices:
    """The GPIO devices at the door. `pin_factory` is gpiozero's factory in use (a MockFactory under "mock")."""

    lock: Lock
    indicator: Indicator
    door_sensor: DoorSensor | None
    exit_button: ExitButton | None
    pin_factory: PinFactory
    owns_factory: bool = field(default=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def close(self) -> None:
        """Release every pin (the lock is locked first, and released last). Idempotent."""
        if self._closed:
            return
        self._closed = True
        _close_all([self.indicator, self.exit_button, self.door_sensor, self.lock])
        if self.owns_factory:
            self.pin_factory.close()

    def __enter__(self) -> Devices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_devices(cfg: HardwareConfig, pin_factory: PinFactory | None = None) -> Devices:
    """Build the lock (first, so the door is locked at once), sensors and indicator on the configured factory.

    `pin_factory` overrides the config's (tests pass the MockFactory they drive); otherwise the factory named by
    `cfg.pin_factory` is made, owned and closed by the bundle. Raises PinFactoryError if that backend cannot load.
    """
    owns = pin_factory is None
    factory = make_pin_factory(cfg.pin_factory) if pin_factory is None else pin_factory
    built: list[Any] = []
    try:
        lock = GpioLock(cfg.lock.pin, active_high=cfg.lock.active_high, wiring=cfg.lock.wiring, pin_factory=factory)
        built.append(lock)
        door_sensor = None
        if cfg.door_sensor is not None:
            door_sensor = GpioDoorSensor(
                cfg.door_sensor.pin,
                closed_when=cfg.door_sensor.closed_when,
                debounce_s=cfg.door_sensor.debounce_s,
                pin_factory=factory,
            )
            built.append(door_sensor)
        exit_button = None
        if cfg.exit_button is not None:
            exit_button = GpioExitButton(
                cfg.exit_button.pin, debounce_s=cfg.exit_button.debounce_s, pin_factory=factory
            )
            built.append(exit_button)
        indicator = GpioIndicator(
            green_pin=cfg.indicator.green_pin,
            red_pin=cfg.indicator.red_pin,
            buzzer_pin=cfg.indicator.buzzer_pin,
            pin_factory=factory,
        )
    except Exception:
        _close_all(reversed(built))
        if owns:
            factory.close()
        raise
    return Devices(lock, indicator, door_sensor, exit_button, factory, owns_factory=owns)


def build_reader(cfg: ReaderConfig, on_tap: Callable[[Tap], None]) -> Reader:
    """The configured NFC reader, not yet started (call `start()`, which raises ReaderError if it is missing)."""
    return NfcReader(cfg.path, cfg.targets, cfg.debounce_s, on_tap)


def _close_all(devices: Iterable[Any]) -> None:
    for device in devices:
        if device is not None:
            device.close()
