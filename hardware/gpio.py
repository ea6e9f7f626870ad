"""The door's GPIO devices on gpiozero, each built with an explicit pin factory.

Debouncing is done here rather than by gpiozero's `bounce_time`: backends differ (the mock factory ignores it),
and a level that must *hold* for the debounce time also rejects a spike on a long cable, where gpiozero's
"ignore edges after the first" would report the spike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gpiozero import LED, Buzzer, DigitalInputDevice, DigitalOutputDevice

from hardware.config import DOOR_SENSOR_DEBOUNCE_S, EXIT_BUTTON_DEBOUNCE_S, Level, Wiring
from hardware.pins import PinFactory
from hardware.protocols import INDICATOR_PARTS, IndicatorPart

log = logging.getLogger(__name__)


class GpioLock:
    """Lock relay on one output pin. `active_high`: a high pin energises the relay. `wiring`: what energised means.

    The pin is claimed as an output already at the locked level (gpiozero's `initial_value`, which the real
    backends apply in the same call that makes the pin an output), so the relay never passes through unlocked.
    """

    def __init__(self, pin: int, *, active_high: bool, wiring: Wiring, pin_factory: PinFactory) -> None:
        # fail-secure strike: power opens it, so locked = relay at rest. fail-safe maglock: power holds the door.
        self._energised_when_locked = wiring == "fail-safe"
        self._relay = DigitalOutputDevice(
            pin, active_high=active_high, initial_value=self._energised_when_locked, pin_factory=pin_factory
        )

    def lock(self) -> None:
        """Put the relay in the locked state."""
        self._relay.value = self._energised_when_locked

    def unlock(self) -> None:
        """Put the relay in the unlocked state (the door daemon decides for how long)."""
        self._relay.value = not self._energised_when_locked

    @property
    def is_unlocked(self) -> bool:
        return bool(self._relay.value) != self._energised_when_locked

    def close(self) -> None:
        """Lock, then release the pin. Idempotent."""
        if not self._relay.closed:
            self.lock()
            self._relay.close()


class _SettledInput:
    """An input with the Pi's pull-up whose level is reported once it has held still for `debounce_s`."""

    def __init__(
        self, pin: int, *, debounce_s: float, pin_factory: PinFactory, name: str, on_settled: Callable[[bool], None]
    ) -> None:
        self._device = DigitalInputDevice(pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
        self._debounce_s = debounce_s
        self._on_settled = on_settled
        self._cond = threading.Condition()
        self._last_edge: float | None = None
        self._closed = False
        self.level = bool(self._device.pin.state)  # settled level
        self._device.when_activated = self._edge
        self._device.when_deactivated = self._edge
        self._thread = threading.Thread(target=self._run, name=f"halfday-{name}", daemon=True)
        self._thread.start()
        self._edge()  # re-read once settled, in case the level moved before the callbacks were in place

    def _edge(self) -> None:
        with self._cond:
            self._last_edge = time.monotonic()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._last_edge is None:
                        self._cond.wait()
                        continue
                    remaining = self._last_edge + self._debounce_s - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return
                self._last_edge = None
                level = bool(self._device.pin.state)
                if level == self.level:
                    continue  # a bounce that came back to where it was
                self.level = level
            try:
                self._on_settled(level)
            except Exception:
                log.exception("échec du rappel de GPIO%s", self._device.pin)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._device.close()


class GpioDoorSensor:
    """Reed switch: `closed_when` is the level read with the door closed. Calls `on_change(is_open)`."""

    def __init__(
        self,
        pin: int,
        *,
        closed_when: Level = "low",
        debounce_s: float = DOOR_SENSOR_DEBOUNCE_S,
        pin_factory: PinFactory,
    ) -> None:
        self.on_change: Callable[[bool], None] | None = None
        self._closed_level = closed_when == "high"
        self._input = _SettledInput(
            pin, debounce_s=debounce_s, pin_factory=pin_factory, name=f"door-sensor-{pin}", on_settled=self._settled
        )

    def _settled(self, level: bool) -> None:
        callback = self.on_change
        if callback is not None:
            callback(level != self._closed_level)

    @property
    def is_open(self) -> bool:
        return self._input.level != self._closed_level

    def close(self) -> None:
        self._input.close()


class GpioExitButton:
    """Request-to-exit button between the pin and ground. Calls `on_press()` once per settled press."""

    def __init__(self, pin: int, *, debounce_s: float = EXIT_BUTTON_DEBOUNCE_S, pin_factory: PinFactory) -> None:
        self.on_press: Callable[[], None] | None = None
        self._input = _SettledInput(
            pin, debounce_s=debounce_s, pin_factory=pin_factory, name=f"exit-button-{pin}", on_settled=self._settled
        )

    def _settled(self, level: bool) -> None:
        callback = self.on_press
        if not level and callback is not None:  # pressed pulls the pin low
            callback()

    @property
    def is_pressed(self) -> bool:
        return not self._input.level

    def close(self) -> None:
        self._input.close()


class GpioIndicator:
    """Green light, red light and buzzer; any of the three may be absent (its pin None)."""

    def __init__(
        self,
        *,
        green_pin: int | None = None,
        red_pin: int | None = None,
        buzzer_pin: int | None = None,
        pin_factory: PinFactory,
    ) -> None:
        self._parts: dict[IndicatorPart, DigitalOutputDevice] = {}
        try:
            if green_pin is not None:
                self._parts["green"] = LED(green_pin, pin_factory=pin_factory)
            if red_pin is not None:
                self._parts["red"] = LED(red_pin, pin_factory=pin_factory)
            if buzzer_pin is not None:
                self._parts["buzzer"] = Buzzer(buzzer_pin, pin_factory=pin_factory)
        except Exception:
            self.close()
            raise

    def has(self, part: IndicatorPart) -> bool:
        return part in self._parts

    def is_on(self, part: IndicatorPart) -> bool:
        device = self._parts.get(part)
        return device is not None and bool(device.value)

    def on(self, part: IndicatorPart) -> None:
        """Turn a part on (stops its blinking)."""
        if part in self._parts:
            self._parts[part].on()

    def off(self, part: IndicatorPart) -> None:
        """Turn a part off (stops its blinking)."""
        if part in self._parts:
            self._parts[part].off()

    def blink(self, part: IndicatorPart, on_s: float = 0.2, off_s: float = 0.2, times: int | None = 1) -> None:
        """Blink or beep `times` times (None: until `off`), in the background."""
        if part in self._parts:
            self._parts[part].blink(on_time=on_s, off_time=off_s, n=times, background=True)

    def all_off(self) -> None:
        for part in INDICATOR_PARTS:
            self.off(part)

    def close(self) -> None:
        for device in self._parts.values():
            device.close()
        self._parts.clear()
