"""Prepaid vouchers that the space prints and sells, checked offline at the kiosk, each usable once.

A voucher is 12 Crockford base32 symbols, printed as ``1K4P-7RQD-M2XA``:
- 1 symbol says what it buys: ``1`` a half-day pass, ``2`` a day pass, ``3`` a week pass, ``4`` a month pass,
  ``5`` one half-day of a room or office, booked at the touchscreen (kiosk/booking.py);
- 4 symbols are its serial number (20 bits: about a million vouchers per key), from a counter in the database;
- 7 symbols are a tag: the first 35 bits of HMAC-SHA256(key, "halfday-voucher-v1|site|kind|serial").

Crockford's alphabet has no I, L, O or U, and typing is forgiving: lower case, spaces and dashes are accepted, O
reads as 0 and I or L as 1. Twelve symbols are typed in about fifteen seconds on the touchscreen keyboard.

Why an HMAC and not a signature. An Ed25519 signature would let the kiosk verify without being able to mint, but
it is 64 bytes: about 103 symbols to type, which nobody will do at a door. The HMAC's key is a per-space secret
(a 0600 file next to the database) that both mints and verifies, so whoever reads that file from the Pi can mint
vouchers for this space - and only this space. A 35-bit tag cannot be guessed at a touchscreen (a few tries a
minute, with a lock-out after repeated failures: tens of thousands of years on average). If the Pi is lost,
replace the key file: every voucher not yet sold becomes invalid and must be reprinted. Each voucher is usable
once: the sale stores its normalised code, and `Sale.voucher_code` is unique in the database.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from access.config import Config
from access.store import get_meta, set_meta
from common.secrets import SECRET_BYTES
from common.words import PlanKind
from kiosk.auth import secret_file, state_dir

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPING = str.maketrans({"O": "0", "I": "1", "L": "1"})
# One half-day of any room or office of the site, whatever its price: what the manager sells the voucher for is theirs
# to set. Not a pass: it pays a booking, never a way in by itself.
ROOM_HALFDAY = "room_halfday"
KIND_SYMBOLS: dict[str, str] = {
    "1": PlanKind.PASS_HALFDAY,
    "2": PlanKind.PASS_DAY,
    "3": PlanKind.PASS_WEEK,
    "4": PlanKind.PASS_MONTH,
    "5": ROOM_HALFDAY,
}
SYMBOL_OF_KIND = {kind: symbol for symbol, kind in KIND_SYMBOLS.items()}
SERIAL_SYMBOLS = 4
TAG_SYMBOLS = 7
CODE_SYMBOLS = 1 + SERIAL_SYMBOLS + TAG_SYMBOLS
MAX_SERIAL = 32**SERIAL_SYMBOLS - 1
KEY_FILE = "voucher.key"
NEXT_SERIAL_META = "voucher_next_serial"
_DOMAIN = b"halfday-voucher-v1"


class VoucherError(ValueError):
    """A code that is not a voucher of this space. `reason`: "format" (mistyped shape) or "tag" (not genuine)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Voucher:
    code: str  # normalised: 12 symbols, no dashes, as stored in Sale.voucher_code
    kind: str  # pass_halfday | pass_day | pass_week | pass_month | room_halfday
    serial: int

    @property
    def printed(self) -> str:
        return format_code(self.code)


def normalise(raw: str) -> str:
    """What the buyer typed, as 12 upper-case symbols: spaces and dashes dropped, O as 0, I and L as 1."""
    return "".join(ch for ch in raw.upper() if ch not in " -_.\t").translate(_TYPING)


def format_code(code: str) -> str:
    """'1K4P7RQDM2XA' -> '1K4P-7RQD-M2XA' (groups of four, as printed)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _encode(number: int, width: int) -> str:
    symbols = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        symbols.append(ALPHABET[digit])
    return "".join(reversed(symbols))


def _decode(symbols: str) -> int:
    number = 0
    for ch in symbols:
        number = number * 32 + ALPHABET.index(ch)
    return number


class VoucherBook:
    """Mints and verifies the vouchers of one site with its secret key."""

    def __init__(self, key: bytes, site_id: str) -> None:
        if len(key) < SECRET_BYTES:
            raise ValueError("voucher key too short")
        self._key = key
        self._site = site_id.encode()

    def _tag(self, kind_symbol: str, serial_symbols: str) -> str:
        message = b"|".join((_DOMAIN, self._site, kind_symbol.encode(), serial_symbols.encode()))
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        bits = int.from_bytes(digest[:5], "big") >> (40 - 5 * TAG_SYMBOLS)
        return _encode(bits, TAG_SYMBOLS)

    def mint(self, kind: str, serial: int) -> Voucher:
        """The voucher with this serial for `kind`: a pass kind, or ROOM_HALFDAY."""
        if kind not in SYMBOL_OF_KIND:
            raise ValueError(f"unknown voucher kind {kind!r}")
        if not 0 <= serial <= MAX_SERIAL:
            raise ValueError(f"serial {serial} out of range")
        head = SYMBOL_OF_KIND[kind] + _encode(serial, SERIAL_SYMBOLS)
        return Voucher(head + self._tag(head[0], head[1:]), kind, serial)

    def verify(self, raw: str) -> Voucher:
        """The voucher that `raw` names; VoucherError if it is mistyped or not genuine. Says nothing of reuse."""
        code = normalise(raw)
        if len(code) != CODE_SYMBOLS or any(ch not in ALPHABET for ch in code) or code[0] not in KIND_SYMBOLS:
            raise VoucherError("format")
        expected = self._tag(code[0], code[1 : 1 + SERIAL_SYMBOLS])
        if not hmac.compare_digest(expected, code[1 + SERIAL_SYMBOLS :]):
            raise VoucherError("tag")
        return Voucher(code, KIND_SYMBOLS[code[0]], _decode(code[1 : 1 + SERIAL_SYMBOLS]))


def voucher_key_path(config: Config) -> Path:
    if config.kiosk.voucher_key_file:
        return Path(config.kiosk.voucher_key_file)
    return state_dir(config) / KEY_FILE


def voucher_book(config: Config) -> VoucherBook:
    """This site's voucher book, its key file created (0600) on first use."""
    key = secret_file(voucher_key_path(config))
    return VoucherBook(key, config.site.id)


def allocate_serials(session: Session, count: int) -> range:
    """Reserve `count` new serial numbers (in the caller's write transaction), so no voucher is printed twice."""
    if count < 1:
        raise ValueError("count must be at least 1")
    first = int(get_meta(session, NEXT_SERIAL_META) or 0)
    if first + count - 1 > MAX_SERIAL:
        raise ValueError(f"plus que {MAX_SERIAL + 1 - first} numéros de bon avec cette clé : changez la clé")
    set_meta(session, NEXT_SERIAL_META, str(first + count))
    return range(first, first + count)
