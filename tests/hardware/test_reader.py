"""nfcpy's real reader loop over its udp driver, polling the virtual card."""

import threading
import time
from collections.abc import Callable

import pytest

from hardware.protocols import Reader, Tap
from hardware.reader import NfcReader, ReaderError
from hardware.virtual_card import VirtualCard
from tests.support.wait import wait_until

from .conftest import MISSING_READER_PATH, ReaderRig

pytestmark = pytest.mark.timeout(30)

RigFactory = Callable[..., ReaderRig]
# Time for the reader to notice a badge has left (nfcpy's presence check: 3 reads of 0.1 s) and poll again.
SETTLE_S = 0.6


def test_one_tap_per_presentation(reader_rig: RigFactory) -> None:
    rig = reader_rig()
    presented_ns = rig.card.present_nowait("A1B2C3D4", seconds=1.5)  # longer than a poll, many presence checks
    assert rig.log.wait_for(1)
    (tap,) = rig.log.taps
    assert tap == Tap(uid="A1B2C3D4", connected_ns=tap.connected_ns)
    assert tap.connected_ns >= presented_ns
    time.sleep(1.5 + SETTLE_S)
    assert rig.log.uids == ["A1B2C3D4"]
    assert rig.reader.health.state == "ok"


def test_seven_byte_uid(reader_rig: RigFactory) -> None:
    rig = reader_rig()
    rig.card.present("11223344556677", seconds=0.3)
    assert rig.log.wait_for(1)
    assert rig.log.uids == ["11223344556677"]


def test_same_card_within_debounce_is_one_tap(reader_rig: RigFactory) -> None:
    rig = reader_rig(debounce_s=1.5)
    rig.card.present("A1B2C3D4", seconds=0.3)
    assert rig.log.wait_for(1)
    first = rig.log.taps[0].connected_ns
    time.sleep(SETTLE_S)
    rig.card.present("A1B2C3D4", seconds=0.3)  # again, within 1.5 s
    time.sleep(SETTLE_S)
    assert rig.log.uids == ["A1B2C3D4"]
    assert wait_until(lambda: time.monotonic_ns() - first > 1.5e9)
    rig.card.present("A1B2C3D4", seconds=0.3)  # after the debounce time: a new tap
    assert rig.log.wait_for(2)
    assert rig.log.uids == ["A1B2C3D4", "A1B2C3D4"]


def test_two_different_cards_are_two_taps(reader_rig: RigFactory) -> None:
    rig = reader_rig(debounce_s=5.0)
    rig.card.present("A1B2C3D4", seconds=0.3)
    assert rig.log.wait_for(1)
    time.sleep(SETTLE_S)
    rig.card.present("0A0B0C0D", seconds=0.3)
    assert rig.log.wait_for(2)
    assert rig.log.uids == ["A1B2C3D4", "0A0B0C0D"]


def test_failed_reader_is_reopened_within_5_s(reader_rig: RigFactory) -> None:
    rig = reader_rig(reopen_delay_s=1.0)
    rig.card.present("A1B2C3D4", seconds=0.3)
    assert rig.log.wait_for(1)
    rig.frontends[-1].close()  # the driver goes away under the loop: nfcpy's connect() ends in an I/O error
    failed_at = time.monotonic()
    assert wait_until(lambda: rig.reader.health.reopens == 1, timeout=5.0)
    assert time.monotonic() - failed_at < 5.0
    assert rig.reader.health.state == "ok"
    assert len(rig.frontends) == 2
    time.sleep(SETTLE_S)
    rig.card.present("0A0B0C0D", seconds=0.3)
    assert rig.log.wait_for(2)
    assert rig.log.uids == ["A1B2C3D4", "0A0B0C0D"]


def test_unplugged_reader_shows_error_then_comes_back(reader_rig: RigFactory) -> None:
    rig = reader_rig(reopen_delay_s=0.2)
    rig.unplug()
    assert wait_until(lambda: rig.reader.health.state == "error")
    health = rig.reader.health
    assert "introuvable" in health.detail and MISSING_READER_PATH not in health.detail
    assert rig.card.path in health.detail
    rig.plug()
    assert wait_until(lambda: rig.reader.health.state == "ok", timeout=5.0)
    assert rig.reader.health.reopens == 1
    rig.card.present("A1B2C3D4", seconds=0.3)
    assert rig.log.wait_for(1)


def test_hung_loop_is_detected_and_reopened(reader_rig: RigFactory) -> None:
    release = threading.Event()
    first = threading.Event()

    def stuck_on_first_tap(tap: Tap) -> None:
        if not first.is_set():
            first.set()
            release.wait(10)  # the loop makes no iteration while this blocks

    rig = reader_rig(on_tap=stuck_on_first_tap, hang_timeout_s=1.0, reopen_delay_s=0.2)
    try:
        rig.card.present_nowait("A1B2C3D4", seconds=0.3)
        assert first.wait(5)
        stuck_at = time.monotonic()
        assert wait_until(lambda: rig.reader.health.reopens == 1, timeout=5.0)
        assert time.monotonic() - stuck_at < 5.0
        time.sleep(SETTLE_S)
        rig.card.present("0A0B0C0D", seconds=0.3)
        assert rig.log.wait_for(2)
        assert rig.log.uids == ["A1B2C3D4", "0A0B0C0D"]
    finally:
        release.set()
    time.sleep(0.5)  # the abandoned loop wakes, sees it was replaced, and exits without a tap
    assert rig.log.uids == ["A1B2C3D4", "0A0B0C0D"]


def test_stop_is_prompt_and_leaves_no_thread(reader_rig: RigFactory) -> None:
    rig = reader_rig()
    assert wait_until(lambda: (rig.reader.health.last_seen_ns or 0) > 0)
    time.sleep(0.3)  # inside a poll: the udp driver waits up to 1 s for an answer
    started = time.monotonic()
    rig.reader.stop()
    assert time.monotonic() - started < 2.0
    assert rig.reader.health.state == "stopped"
    assert not [t for t in threading.enumerate() if rig.card.path in t.name and t.is_alive()]
    rig.card.present("A1B2C3D4", seconds=0.3)
    assert rig.log.taps == []


def test_missing_reader_is_a_clear_error_at_start() -> None:
    reader: Reader = NfcReader(MISSING_READER_PATH, ["106A"], 2.0, lambda tap: None)
    with pytest.raises(ReaderError, match="introuvable") as caught:
        reader.start()
    assert MISSING_READER_PATH in str(caught.value) and "aucun lecteur branché" in str(caught.value)
    assert reader.health.state == "stopped"


def test_virtual_card_checks_uid_and_uses_a_free_port() -> None:
    with VirtualCard() as one, VirtualCard() as two:
        assert one.port != two.port and one.path == f"udp:127.0.0.1:{one.port}"
        for bad in ("A1B2C3", "not hex", "A1B2C3D4E5"):
            with pytest.raises(ValueError):
                one.present_nowait(bad)
        one.present_nowait("A1B2C3D4", seconds=0.05)
        assert one.is_present
        assert wait_until(lambda: not one.is_present)
