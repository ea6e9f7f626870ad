import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.config import (
    DoorSensorConfig,
    ExitButtonConfig,
    HardwareConfig,
    IndicatorConfig,
    LockConfig,
    ReaderConfig,
)
from hardware.devices import build_devices
from hardware.gpio import GpioDoorSensor, GpioExitButton, GpioIndicator, GpioLock
from hardware.pins import PinFactoryError, make_pin_factory
from tests.support.wait import wait_until

LOCK_PIN = 17
# (active_high, wiring) -> pin level when locked: fail-secure locks at rest, a fail-safe maglock locks energised.
LOCKED_LEVEL = {
    (True, "fail-secure"): False,
    (False, "fail-secure"): True,
    (True, "fail-safe"): True,
    (False, "fail-safe"): False,
}


@pytest.mark.parametrize(("active_high", "wiring"), list(LOCKED_LEVEL))
def test_lock_polarity_and_wiring(mock_factory: MockFactory, active_high: bool, wiring: str) -> None:
    locked = LOCKED_LEVEL[(active_high, wiring)]
    pin = mock_factory.pin(LOCK_PIN)
    lock = GpioLock(LOCK_PIN, active_high=active_high, wiring=wiring, pin_factory=mock_factory)  # type: ignore[arg-type]
    assert pin.state == locked and not lock.is_unlocked
    lock.unlock()
    assert pin.state == (not locked) and lock.is_unlocked
    lock.lock()
    assert pin.state == locked and not lock.is_unlocked
    lock.unlock()
    lock.close()  # closing locks before releasing the pin
    assert pin.states[-1].state == locked
    assert pin.function == "input"


@pytest.mark.parametrize(("active_high", "wiring"), list(LOCKED_LEVEL))
@pytest.mark.parametrize("level_before", [False, True])
def test_lock_is_locked_at_construction_without_passing_through_unlocked(
    mock_factory: MockFactory, active_high: bool, wiring: str, level_before: bool
) -> None:
    locked = LOCKED_LEVEL[(active_high, wiring)]
    pin = mock_factory.pin(LOCK_PIN)
    # Whatever the line's level before the relay is claimed, the only transition allowed is to locked.
    if level_before:
        pin.drive_high()
    else:
        pin.drive_low()
    pin.clear_states()
    lock = GpioLock(LOCK_PIN, active_high=active_high, wiring=wiring, pin_factory=mock_factory)  # type: ignore[arg-type]
    transitions = [s.state for s in pin.states[1:]]
    assert transitions in ([], [locked])
    assert pin.state == locked and pin.function == "output"
    lock.close()


def test_relay_transitions_carry_their_times(mock_factory: MockFactory) -> None:
    pin = mock_factory.pin(LOCK_PIN)
    lock = GpioLock(LOCK_PIN, active_high=True, wiring="fail-secure", pin_factory=mock_factory)
    pin.clear_states()
    lock.unlock()
    time.sleep(0.05)
    lock.lock()
    assert [s.state for s in pin.states] == [False, True, False]
    assert pin.states[2].timestamp >= 0.05  # seconds spent unlocked, read back from the mock pin
    lock.close()


def test_door_sensor_reports_settled_changes(mock_factory: MockFactory) -> None:
    changes: list[bool] = []
    sensor = GpioDoorSensor(27, closed_when="low", debounce_s=0.02, pin_factory=mock_factory)
    sensor.on_change = changes.append
    pin = mock_factory.pin(27)
    assert sensor.is_open  # the pull-up reads high: not closed
    pin.drive_low()
    assert wait_until(lambda: changes == [False])
    assert not sensor.is_open
    pin.drive_high()
    assert wait_until(lambda: changes == [False, True])
    assert sensor.is_open
    sensor.close()


def test_door_sensor_closed_when_high(mock_factory: MockFactory) -> None:
    changes: list[bool] = []
    sensor = GpioDoorSensor(27, closed_when="high", debounce_s=0.02, pin_factory=mock_factory)
    sensor.on_change = changes.append
    assert not sensor.is_open
    mock_factory.pin(27).drive_low()
    assert wait_until(lambda: changes == [True])
    sensor.close()


def test_door_sensor_bounce_is_one_change_and_a_glitch_is_none(mock_factory: MockFactory) -> None:
    changes: list[bool] = []
    sensor = GpioDoorSensor(27, closed_when="low", debounce_s=0.1, pin_factory=mock_factory)
    sensor.on_change = changes.append
    pin = mock_factory.pin(27)
    for _ in range(5):  # contact chatter, then the door rests closed
        pin.drive_low()
        pin.drive_high()
    pin.drive_low()
    assert wait_until(lambda: changes == [False])
    pin.drive_high()  # a spike shorter than the debounce time
    pin.drive_low()
    time.sleep(0.3)
    assert changes == [False]
    sensor.close()


def test_exit_button_presses_once_per_press(mock_factory: MockFactory) -> None:
    presses = threading.Semaphore(0)
    count: list[int] = []
    button = GpioExitButton(22, debounce_s=0.02, pin_factory=mock_factory)

    def pressed() -> None:
        count.append(1)
        presses.release()

    button.on_press = pressed
    pin = mock_factory.pin(22)
    assert not button.is_pressed
    pin.drive_low()
    pin.drive_high()
    pin.drive_low()  # bounce
    assert presses.acquire(timeout=5)
    assert button.is_pressed
    pin.drive_high()
    assert wait_until(lambda: not button.is_pressed)
    pin.drive_low()
    assert presses.acquire(timeout=5)
    time.sleep(0.1)
    assert len(count) == 2
    button.close()


def test_indicator_parts_and_absent_parts(mock_factory: MockFactory) -> None:
    indicator = GpioIndicator(green_pin=5, buzzer_pin=13, pin_factory=mock_factory)
    green, buzzer = mock_factory.pin(5), mock_factory.pin(13)
    assert indicator.has("green") and indicator.has("buzzer") and not indicator.has("red")
    indicator.on("green")
    indicator.on("red")  # not fitted: ignored
    assert green.state and indicator.is_on("green") and not indicator.is_on("red")
    indicator.off("green")
    assert not green.state
    buzzer.clear_states()
    indicator.blink("buzzer", on_s=0.01, off_s=0.01, times=2)
    assert wait_until(lambda: [s.state for s in buzzer.states] == [False, True, False, True, False])
    indicator.on("green")
    indicator.all_off()
    assert not green.state and not buzzer.state
    indicator.close()


def test_build_devices_from_config_uses_the_named_mock_factory() -> None:
    cfg = HardwareConfig(
        pin_factory="mock",
        lock=LockConfig(pin=17, wiring="fail-safe"),
        door_sensor=DoorSensorConfig(pin=27, debounce_s=0.01),
        exit_button=ExitButtonConfig(pin=22, debounce_s=0.01),
        indicator=IndicatorConfig(red_pin=6),
        reader=ReaderConfig(path="usb"),
    )
    devices = build_devices(cfg)
    factory = devices.pin_factory
    assert isinstance(factory, MockFactory)
    assert factory.pin(17).state is True  # fail-safe, active high: locked = energised
    presses: list[int] = []
    assert devices.exit_button is not None and devices.door_sensor is not None
    devices.exit_button.on_press = lambda: presses.append(1)
    factory.pin(22).drive_low()
    assert wait_until(lambda: presses == [1])
    devices.indicator.on("red")
    assert factory.pin(6).state
    relay = factory.pin(17)
    devices.lock.unlock()
    devices.close()
    devices.close()  # idempotent
    assert relay.states[-1].state is True  # locked on the way out


def test_build_devices_on_a_given_factory_releases_pins(mock_factory: MockFactory) -> None:
    cfg = HardwareConfig(pin_factory="lgpio", reader=ReaderConfig(path="usb"), door_sensor=DoorSensorConfig())
    with build_devices(cfg, pin_factory=mock_factory) as devices:
        assert devices.pin_factory is mock_factory
    with build_devices(cfg, pin_factory=mock_factory) as again:  # pins were released
        again.lock.unlock()
        assert mock_factory.pin(17).state


def test_build_devices_failure_releases_what_was_built(mock_factory: MockFactory) -> None:
    cfg = HardwareConfig(pin_factory="mock", reader=ReaderConfig(path="usb"), exit_button=ExitButtonConfig())
    taken = GpioLock(22, active_high=True, wiring="fail-secure", pin_factory=mock_factory)
    with pytest.raises(Exception, match="22"):
        build_devices(cfg, pin_factory=mock_factory)
    taken.close()
    with build_devices(cfg, pin_factory=mock_factory):  # the lock built before the failure was released
        pass


def test_make_pin_factory() -> None:
    assert isinstance(make_pin_factory("mock"), MockFactory)
    with pytest.raises(PinFactoryError, match="inconnu"):
        make_pin_factory("pigpio")


@pytest.mark.parametrize("name", ["lgpio", "rpigpio"])
def test_real_factory_never_falls_back_to_another_backend(name: str) -> None:
    # Off a Pi the backend cannot load: that must be a clear error, not gpiozero's fallback to another factory.
    try:
        factory = make_pin_factory(name)
    except PinFactoryError as error:
        assert name in str(error)
    else:
        assert not isinstance(factory, MockFactory)
        factory.close()
