"""Shared fixtures for the door's devices: gpiozero's MockFactory, and a virtual card polled by a real nfcpy
reader loop over the udp driver (each on a free port). Kept free of hardware-test specifics so they can move to
tests/conftest.py when other packages need them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import nfc
import pytest
from gpiozero.pins.mock import MockFactory

from hardware.protocols import Tap
from hardware.reader import NfcReader
from hardware.virtual_card import VirtualCard
from tests.support.wait import wait_until

# A USB path that matches no device: nfcpy really searches and answers ENODEV, as for an unplugged reader.
MISSING_READER_PATH = "usb:ffff:ffff"


class TapLog:
    """Taps as the reader delivered them, safe to read from the test thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taps: list[Tap] = []

    def __call__(self, tap: Tap) -> None:
        with self._lock:
            self._taps.append(tap)

    @property
    def taps(self) -> list[Tap]:
        with self._lock:
            return list(self._taps)

    @property
    def uids(self) -> list[str]:
        return [t.uid for t in self.taps]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        return wait_until(lambda: len(self.taps) >= count, timeout)


class ReaderRig:
    """A started NfcReader polling a VirtualCard. `unplug()` takes the reader away (its frontend closes and
    reopening finds no device) until `plug()`."""

    def __init__(self, card: VirtualCard, on_tap: Callable[[Tap], None] | None, **reader_kwargs: Any) -> None:
        self.card = card
        self.log = TapLog()
        self._on_tap = on_tap
        self.frontends: list[Any] = []
        self._unplugged = threading.Event()
        reader_kwargs.setdefault("debounce_s", 2.0)
        self.reader = NfcReader(card.path, ["106A"], on_tap=self._tap, frontend_factory=self._open, **reader_kwargs)

    def _tap(self, tap: Tap) -> None:
        self.log(tap)
        if self._on_tap is not None:
            self._on_tap(tap)

    def _open(self, path: str) -> Any:
        if self._unplugged.is_set():
            return nfc.ContactlessFrontend(MISSING_READER_PATH)
        frontend = nfc.ContactlessFrontend(path)
        self.frontends.append(frontend)
        return frontend

    def unplug(self) -> None:
        self._unplugged.set()
        self.frontends[-1].close()

    def plug(self) -> None:
        self._unplugged.clear()


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """A fresh gpiozero MockFactory: drive inputs with `factory.pin(n).drive_low()`, read `pin(n).states`."""
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture
def virtual_card() -> Iterator[VirtualCard]:
    """A virtual badge bound on a free UDP port of 127.0.0.1; a reader opens `virtual_card.path`."""
    with VirtualCard() as card:
        yield card


@pytest.fixture
def reader_rig() -> Iterator[Callable[..., ReaderRig]]:
    """Factory: `reader_rig(on_tap=None, **NfcReader kwargs)` starts a reader on its own virtual card."""
    rigs: list[ReaderRig] = []

    def make(on_tap: Callable[[Tap], None] | None = None, **reader_kwargs: Any) -> ReaderRig:
        rig = ReaderRig(VirtualCard(), on_tap, **reader_kwargs)
        rigs.append(rig)
        rig.reader.start()
        return rig

    yield make
    for rig in rigs:
        rig.reader.stop()
        rig.card.close()
