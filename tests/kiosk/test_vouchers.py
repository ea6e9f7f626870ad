"""Prepaid vouchers: typeable codes, an HMAC tag that cannot be forged without the site's key, one use each."""

from __future__ import annotations

import os
import stat

import pytest

from common.words import PlanKind
from kiosk.auth import KioskSetupError
from kiosk.vouchers import (
    ALPHABET,
    CODE_SYMBOLS,
    MAX_SERIAL,
    VoucherBook,
    VoucherError,
    allocate_serials,
    format_code,
    normalise,
    voucher_book,
    voucher_key_path,
)
from tests.support.site import Site

KEY = b"k" * 64


def test_minted_codes_verify_and_say_what_they_buy() -> None:
    book = VoucherBook(KEY, "le-local")
    half = book.mint(PlanKind.PASS_HALFDAY, 0)
    day = book.mint(PlanKind.PASS_DAY, MAX_SERIAL)
    assert len(half.code) == CODE_SYMBOLS and set(half.code) <= set(ALPHABET)
    assert half.printed == format_code(half.code) and half.printed.count("-") == 2
    assert book.verify(half.printed) == half
    assert book.verify(day.code).kind == PlanKind.PASS_DAY and book.verify(day.code).serial == MAX_SERIAL


def test_week_and_month_vouchers_buy_those_passes_and_no_other() -> None:
    book = VoucherBook(KEY, "le-local")
    week, month = book.mint(PlanKind.PASS_WEEK, 3), book.mint(PlanKind.PASS_MONTH, 3)
    assert (book.verify(week.printed).kind, book.verify(month.printed).kind) == (
        PlanKind.PASS_WEEK,
        PlanKind.PASS_MONTH,
    )
    assert week.code[1:5] == month.code[1:5] and week.code[5:] != month.code[5:]  # the kind is in the tag too
    with pytest.raises(VoucherError):
        book.verify("4" + week.code[1:])  # a week voucher retyped as a month one


def test_typing_is_forgiving() -> None:
    book = VoucherBook(KEY, "le-local")
    voucher = book.mint(PlanKind.PASS_HALFDAY, 12345)
    sloppy = " " + voucher.printed.lower().replace("-", " ") + " "
    assert book.verify(sloppy) == voucher
    # O for 0 and I or L for 1: the letters Crockford's alphabet leaves out read as the digits they look like.
    assert normalise("o1il-OIL") == "011101 1".replace(" ", "")
    assert normalise("oIl") == "011"


def test_a_changed_symbol_is_refused() -> None:
    book = VoucherBook(KEY, "le-local")
    code = book.mint(PlanKind.PASS_HALFDAY, 7).code
    for index in range(CODE_SYMBOLS):
        swapped = ALPHABET[(ALPHABET.index(code[index]) + 1) % 32]
        tampered = code[:index] + swapped + code[index + 1 :]
        with pytest.raises(VoucherError):
            book.verify(tampered)


def test_another_key_or_site_does_not_verify() -> None:
    code = VoucherBook(KEY, "le-local").mint(PlanKind.PASS_HALFDAY, 1).code
    with pytest.raises(VoucherError) as other_key:
        VoucherBook(b"x" * 64, "le-local").verify(code)
    assert other_key.value.reason == "tag"
    with pytest.raises(VoucherError):
        VoucherBook(KEY, "autre-lieu").verify(code)


@pytest.mark.parametrize("raw", ["", "1234", "1K4P-7RQD-M2XA-0", "6K4P7RQDM2XA", "1K4P7RQDM2X!"])
def test_malformed_codes_are_a_format_error(raw: str) -> None:
    with pytest.raises(VoucherError) as error:
        VoucherBook(KEY, "le-local").verify(raw)
    assert error.value.reason == "format"


def test_key_file_is_created_once_and_private(site: Site) -> None:
    book = voucher_book(site.config)
    path = voucher_key_path(site.config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    code = book.mint(PlanKind.PASS_HALFDAY, 3).code
    assert voucher_book(site.config).verify(code).serial == 3  # same key on the next start
    os.chmod(path, 0o644)
    with pytest.raises(KioskSetupError, match="chmod 600"):
        voucher_book(site.config)


def test_serials_are_never_handed_out_twice(site: Site) -> None:
    with site.db.write() as s:
        first = allocate_serials(s, 3)
    with site.db.write() as s:
        second = allocate_serials(s, 2)
    assert list(first) == [0, 1, 2] and list(second) == [3, 4]
    with pytest.raises(ValueError, match="changez la clé"), site.db.write() as s:
        allocate_serials(s, MAX_SERIAL)
