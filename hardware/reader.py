"""The badge reader: nfcpy's own `ContactlessFrontend.connect` loop in a thread, watched and reopened.

One `connect()` call is one presentation: `on-connect` hands the Tap over at once and returns True, so nfcpy
then waits (presence checks) until the badge leaves before the loop polls again. A watchdog thread reopens the
reader when the loop ends in error (nfcpy turns an unplugged reader into `connect() -> False`) or stops
iterating (a hung driver).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import nfc

from hardware.protocols import ReaderHealth, ReaderState, Tap

log = logging.getLogger(__name__)

# The loop calls terminate() after every poll round (up to ~2 s on the udp driver: 1 s poll + 2 x 0.5 s
# anticollision timeouts; well under 1 s on a PN532) and every 0.1 s while a badge is held. 3 s without it means
# the driver is stuck; detection plus REOPEN_DELAY_S stays within the 5 s the door allows for recovery.
HANG_TIMEOUT_S = 3.0
# Pause before reopening after a fault, and between attempts while the reader is missing: an unplugged reader
# is retried once a second instead of in a busy loop, and a replugged one is back within about a second.
REOPEN_DELAY_S = 1.0
# How often the watchdog looks at the loop: small against HANG_TIMEOUT_S, cheap on a Pi.
WATCHDOG_PERIOD_S = 0.1
# stop() waits this long for the loop to see terminate(); one udp poll is 1 s.
STOP_JOIN_S = 1.5

FrontendFactory = Callable[[str], Any]


class ReaderError(RuntimeError):
    """The reader could not be opened (message in French)."""


class NfcReader:
    """Calls `on_tap(Tap)` once per presentation; the same UID again within `debounce_s` is not a new tap.

    `on_tap` runs on the reader thread, inside nfcpy's on-connect: it must return quickly (queue the tap).
    `frontend_factory(path)` opens the reader; nfcpy's ContactlessFrontend unless a test needs to reach it.
    """

    def __init__(
        self,
        path: str,
        targets: Sequence[str],
        debounce_s: float,
        on_tap: Callable[[Tap], None],
        *,
        hang_timeout_s: float = HANG_TIMEOUT_S,
        reopen_delay_s: float = REOPEN_DELAY_S,
        frontend_factory: FrontendFactory = nfc.ContactlessFrontend,
    ) -> None:
        self.path = path
        self._targets = list(targets)
        self._debounce_ns = int(debounce_s * 1e9)
        self._on_tap = on_tap
        self._hang_timeout_ns = int(hang_timeout_s * 1e9)
        self._reopen_delay_s = reopen_delay_s
        self._frontend_factory = frontend_factory
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._generation = 0  # bumped on each reopen: a loop from an older generation is abandoned
        self._frontend: Any = None
        self._worker: threading.Thread | None = None
        self._worker_error: str | None = None
        self._watchdog: threading.Thread | None = None
        self._state: ReaderState = "stopped"
        self._detail = ""
        self._last_seen_ns: int | None = None
        self._reopens = 0
        self._last_tap_ns: dict[str, int] = {}

    # -- public ---------------------------------------------------------------------------------------------

    @property
    def health(self) -> ReaderHealth:
        with self._state_lock:
            return ReaderHealth(self._state, self._detail, self._last_seen_ns, self._reopens)

    def start(self) -> None:
        """Open the reader and start polling; raise ReaderError if it cannot be opened."""
        if self._watchdog is not None:
            raise RuntimeError("lecteur déjà démarré")
        self._stopping.clear()
        frontend = self._open()
        self._launch(frontend)
        self._set_state("ok", "")
        self._watchdog = threading.Thread(target=self._watch, name=f"halfday-reader[{self.path}]-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        """Stop polling and close the reader; returns within about STOP_JOIN_S even if the driver is stuck."""
        self._stopping.set()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.join(STOP_JOIN_S)
        with self._state_lock:
            worker, frontend = self._worker, self._frontend
            self._worker = self._frontend = None
        if worker is not None:
            worker.join(STOP_JOIN_S)
            if worker.is_alive():
                _force_close(frontend)
        self._set_state("stopped", "")

    # -- the nfcpy loop -------------------------------------------------------------------------------------

    def _open(self) -> Any:
        try:
            return self._frontend_factory(self.path)
        except Exception as error:  # nfcpy raises OSError(ENODEV), ValueError, socket errors, ...
            raise ReaderError(f"lecteur NFC introuvable sur « {self.path} » : {_describe(error)}") from error

    def _launch(self, frontend: Any) -> None:
        with self._state_lock:
            self._generation += 1
            generation = self._generation
            self._frontend = frontend
            self._worker_error = None
            self._last_seen_ns = time.monotonic_ns()
            self._worker = threading.Thread(
                target=self._run,
                args=(generation, frontend),
                name=f"halfday-reader[{self.path}]-{generation}",
                daemon=True,
            )
            self._worker.start()

    def _run(self, generation: int, frontend: Any) -> None:
        options = {
            "targets": self._targets,
            "on-connect": lambda tag: self._connected(generation, tag),
            # One poll round per connect(): terminate() is then consulted after each round, so stop() and the
            # watchdog see the loop within one poll instead of nfcpy's default five.
            "iterations": 1,
            # The door gives its own answer (green or red); a reader beeping on every badge would contradict it.
            "beep-on-connect": False,
        }
        error: str | None = None
        try:
            while not self._terminate(generation):
                result = frontend.connect(rdwr=options, terminate=lambda: self._terminate(generation))
                if result is False and not self._terminate(generation):
                    error = "le lecteur a signalé une erreur d'entrée-sortie (débranché ?)"
                    break
        except Exception as exc:
            error = _describe(exc)
        with self._state_lock:
            current = generation == self._generation
            if current:
                self._worker_error = error
        if not current:
            log.debug("boucle abandonnée du lecteur %d terminée : %s", generation, error)
        elif error is not None:
            log.warning("lecteur %s en échec : %s", self.path, error)
        if current:
            _close(frontend)

    def _terminate(self, generation: int) -> bool:
        if self._stopping.is_set() or generation != self._generation:
            return True
        self._last_seen_ns = time.monotonic_ns()
        return False

    def _connected(self, generation: int, tag: Any) -> bool:
        now = time.monotonic_ns()
        if generation != self._generation:
            return True
        self._last_seen_ns = now
        uid = bytes(tag.identifier).hex().upper()
        last = self._last_tap_ns.get(uid)
        if last is not None and now - last < self._debounce_ns:
            return True  # still the same tap; True: nfcpy waits for the badge to leave
        self._last_tap_ns = {u: t for u, t in self._last_tap_ns.items() if now - t < self._debounce_ns}
        self._last_tap_ns[uid] = now
        try:
            self._on_tap(Tap(uid=uid, connected_ns=now))
        except Exception:
            log.exception("échec de on_tap pour %s", uid)
        return True

    # -- the watchdog ---------------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(WATCHDOG_PERIOD_S):
            with self._state_lock:
                worker, frontend, last_seen = self._worker, self._frontend, self._last_seen_ns
                error = self._worker_error
            if worker is not None and worker.is_alive():
                silent_ns = time.monotonic_ns() - (last_seen or 0)
                if silent_ns < self._hang_timeout_ns:
                    continue
                reason = f"le lecteur ne répond plus depuis {silent_ns / 1e9:.1f} s"
                with self._state_lock:
                    self._generation += 1  # abandon the stuck loop: it will exit when (if) it wakes
                _force_close(frontend)
            else:
                reason = error or "la boucle du lecteur s'est arrêtée"
            log.warning("lecteur %s : %s ; réouverture", self.path, reason)
            self._reopen(reason)

    def _reopen(self, reason: str) -> None:
        self._set_state("reopening", reason)
        while not self._stopping.wait(self._reopen_delay_s):
            try:
                frontend = self._open()
            except ReaderError as error:
                self._set_state("error", str(error))
                continue
            if self._stopping.is_set():
                _close(frontend)
                return
            self._launch(frontend)
            with self._state_lock:
                self._reopens += 1
            self._set_state("ok", "")
            log.info("lecteur %s rouvert", self.path)
            return

    def _set_state(self, state: ReaderState, detail: str) -> None:
        with self._state_lock:
            self._state, self._detail = state, detail


# What the manager can act on, for the errors nfcpy raises when opening a reader.
_ERRNO_TEXT = {
    errno.ENODEV: "aucun lecteur branché à cet endroit",
    errno.EACCES: "accès refusé (droits sur le périphérique)",
    errno.EBUSY: "lecteur déjà utilisé par un autre programme",
}


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[error.errno]
    text = getattr(error, "strerror", None) or str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _close(frontend: Any) -> None:
    try:
        frontend.close()
    except Exception as error:
        log.debug("échec de la fermeture du lecteur : %s", error)


def _force_close(frontend: Any) -> None:
    """Close a frontend whose loop may be stuck, without waiting for a lock the stuck loop may hold."""
    if frontend is None:
        return
    locked = frontend.lock.acquire(timeout=0.2)
    try:
        device, frontend.device = frontend.device, None
        if device is not None:
            device.close()
    except Exception as error:
        log.debug("échec de la fermeture forcée du lecteur : %s", error)
    finally:
        if locked:
            frontend.lock.release()
