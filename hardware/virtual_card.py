"""A badge for tests and the demo: an NFC-A Type 2 Tag speaking nfcpy's `udp` driver protocol.

Wire format (nfc/clf/udp.py): each datagram is ``b"<brty> <hex payload>"``, e.g. ``b"106A 26"``, or ``b"RFOFF"``
when the reader switches its field off. The reader sends from a fresh, unbound socket for every poll round to
``udp:HOST:PORT``, so the card binds HOST:PORT (port 0 picks a free one: `card.path` is what the reader opens)
and answers whoever polled.

The card stays bound between taps, like a badge that is always somewhere near the reader: it hears every poll.
nfcpy's udp reader waits a hard-coded 1 s for the answer to each poll, so a card that only started listening
when presented would wait for the next poll; instead, a presentation answers the poll the reader is waiting on
at once, as a real card entering the field does.
"""

from __future__ import annotations

import logging
import operator
import socket
import threading
import time
from dataclasses import dataclass
from functools import reduce

log = logging.getLogger(__name__)

# nfcpy's udp driver waits this long for the answer to a poll (hard-coded in nfc/clf/udp.py, sense_tta).
READER_POLL_WAIT_S = 1.0
# Do not answer a poll this close to the reader giving up on it: the answer would arrive after the reader moved
# on, and the next poll, which follows at once, gets the answer instead.
_LATE_POLL_MARGIN_S = 0.05
# The card's socket wakes this often to notice close().
_RECV_TIMEOUT_S = 0.1

NFC_A = "106A"
_REQA, _WUPA = b"\x26", b"\x52"
_SEL_CMDS = (0x93, 0x95, 0x97)  # cascade levels 1..3
_READ, _HALT = 0x30, 0x50
_CASCADE_TAG = 0x88
_PAGES = 16  # 64 bytes of memory: enough for nfcpy's presence check and an empty NDEF message
_CAPABILITY = bytes.fromhex("E1100600")  # NDEF v1.0, 48 data bytes, read/write
_EMPTY_NDEF = bytes.fromhex("0300FE00")  # empty NDEF message TLV, terminator TLV


def _bcc(data: bytes) -> int:
    return reduce(operator.xor, data, 0)


class _Badge:
    """One presentation of one UID: ISO 14443-3A activation then Type 2 READ, state reset by each presentation."""

    def __init__(self, uid: bytes, until: float) -> None:
        self.uid = uid
        self.until = until
        self.state = "idle"  # idle -> ready (answered REQA) -> active (selected) ; halt after HLTA
        size_bits = {4: 0, 7: 1, 10: 2}[len(uid)]
        self.sens_res = bytes([0x04 | size_bits << 6, 0x00])
        if len(uid) == 4:
            parts = [uid]
        elif len(uid) == 7:
            parts = [bytes([_CASCADE_TAG]) + uid[:3], uid[3:]]
        else:
            parts = [bytes([_CASCADE_TAG]) + uid[:3], bytes([_CASCADE_TAG]) + uid[3:6], uid[6:]]
        self.levels = [p + bytes([_bcc(p)]) for p in parts]  # SDD_RES per cascade level, with BCC
        head = (uid + bytes([_bcc(uid)]) + bytes(12))[:12]
        self.memory = head + _CAPABILITY + _EMPTY_NDEF + bytes(4 * _PAGES - 20)

    def in_field(self, now: float) -> bool:
        return now < self.until

    def answer_poll(self, payload: bytes) -> bytes | None:
        if payload == _WUPA or (payload == _REQA and self.state != "halt"):
            self.state = "ready"
            return self.sens_res
        return None

    def answer(self, payload: bytes) -> bytes | None:
        """The card's reply to one command after the poll, or None (silence)."""
        if self.state == "ready" and len(payload) >= 2 and payload[0] in _SEL_CMDS:
            level = _SEL_CMDS.index(payload[0])
            if level >= len(self.levels):
                return None
            if payload[1] == 0x20:  # SDD_REQ: anticollision
                return self.levels[level]
            if payload[1] == 0x70 and payload[2:] == self.levels[level]:  # SEL_REQ
                last = level == len(self.levels) - 1
                if last:
                    self.state = "active"
                return bytes([0x00 if last else 0x04])  # SAK: Type 2 Tag, or "UID not complete"
            return None
        if self.state == "active" and len(payload) == 2 and payload[0] == _READ:
            page = payload[1]
            if page >= _PAGES:
                return b"\x00"  # NAK
            doubled = self.memory + self.memory  # reads roll over at the end of memory
            return doubled[4 * page : 4 * page + 16]
        if self.state == "active" and payload[:1] == bytes([_HALT]):
            self.state = "halt"
            return None
        self.state = "idle"  # a Type 2 Tag goes mute on a command it does not support
        return None


@dataclass
class _Poll:
    brty: str
    addr: tuple[str, int]
    at: float


class VirtualCard:
    """Emulated badge bound on host:port (0: a free port); a reader opens `card.path` to poll it.

    Leave about 0.5 s between presentations: a reader that is still checking that the previous badge has left
    (nfcpy: 3 reads of 0.1 s) would otherwise take the next presentation for the same one.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = _bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._lock = threading.Lock()
        self._badge: _Badge | None = None
        self._pending: _Poll | None = None  # the latest poll, which the reader may still be waiting on
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"halfday-virtual-card-{self.port}", daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        """The nfcpy path a reader opens to reach this card."""
        return f"udp:{self.host}:{self.port}"

    @property
    def is_present(self) -> bool:
        with self._lock:
            return self._badge is not None and self._badge.in_field(time.monotonic())

    def present_nowait(self, uid_hex: str, seconds: float = 0.5) -> int:
        """Put the badge `uid_hex` in the field for `seconds`; return time.monotonic_ns() of the presentation.

        Avoid UIDs starting with 04 (NXP): nfcpy then probes for an NXP product, which this card does not emulate.
        """
        uid = _parse_uid(uid_hex)
        with self._lock:
            presented_ns = time.monotonic_ns()
            now = presented_ns / 1e9
            self._badge = _Badge(uid, now + seconds)
            poll = self._pending
            if poll is not None and poll.brty == NFC_A and now - poll.at < READER_POLL_WAIT_S - _LATE_POLL_MARGIN_S:
                reply = self._badge.answer_poll(_REQA)
                self._pending = None
                if reply is not None:
                    self._send(poll.brty, reply, poll.addr)
        return presented_ns

    def present(self, uid_hex: str, seconds: float = 0.5) -> int:
        """Present the badge for `seconds` and return once it has left the field; returns the presentation time."""
        presented_ns = self.present_nowait(uid_hex, seconds)
        time.sleep(max(0.0, presented_ns / 1e9 + seconds - time.monotonic()))
        return presented_ns

    def remove(self) -> None:
        """Take the badge out of the field now."""
        with self._lock:
            self._badge = None

    def close(self) -> None:
        """Stop answering and free the port."""
        self._closed = True
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._sock.close()

    def __enter__(self) -> VirtualCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                datagram, addr = self._sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError as error:
                log.debug("socket de la carte virtuelle : %s", error)
                continue
            self._receive(datagram, addr)

    def _receive(self, datagram: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        with self._lock:
            if datagram.startswith(b"RFOFF"):
                # The reader switched its field off: the badge loses power and forgets its state.
                if self._pending is not None and self._pending.addr == addr:
                    self._pending = None
                if self._badge is not None:
                    self._badge.state = "idle"
                return
            try:
                brty_bytes, payload_hex = datagram.split()
                brty, payload = brty_bytes.decode("ascii"), bytes.fromhex(payload_hex.decode("ascii"))
            except ValueError:
                return
            badge = self._badge if self._badge is not None and self._badge.in_field(now) else None
            # The card only speaks 106A: whatever the reader sends at another bit rate is a poll it leaves unanswered.
            is_poll = brty != NFC_A or payload in (_REQA, _WUPA)
            if is_poll:
                self._pending = _Poll(brty, addr, now)
            if badge is None or brty != NFC_A:
                return
            reply = badge.answer_poll(payload) if is_poll else badge.answer(payload)
            if is_poll and reply is not None:
                self._pending = None
            if reply is not None:
                self._send(brty, reply, addr)

    def _send(self, brty: str, payload: bytes, addr: tuple[str, int]) -> None:
        try:
            self._sock.sendto(f"{brty} {payload.hex()}".encode("ascii"), addr)
        except OSError as error:  # the reader's socket may already be gone; the reader will poll again
            log.debug("échec de l'envoi de la carte virtuelle à %s : %s", addr, error)


def _parse_uid(uid_hex: str) -> bytes:
    try:
        uid = bytes.fromhex(uid_hex)
    except ValueError:
        raise ValueError(f"l'UID doit être en hexadécimal, reçu {uid_hex!r}") from None
    if len(uid) not in (4, 7, 10):
        raise ValueError(f"l'UID doit faire 4, 7 ou 10 octets, et non {len(uid)}")
    return uid


def _bind(host: str, port: int) -> socket.socket:
    """Bind a UDP socket; with port 0, retry until nfcpy can parse the port (it reads it back as a service name,
    so a port listed in /etc/services would break `udp:HOST:PORT`)."""
    for _ in range(20):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, port))
        bound = sock.getsockname()
        if port or socket.getnameinfo(bound, socket.NI_NUMERICHOST)[1].isdigit():
            sock.settimeout(_RECV_TIMEOUT_S)
            return sock
        sock.close()
    raise OSError("aucun port UDP libre utilisable par nfcpy")
