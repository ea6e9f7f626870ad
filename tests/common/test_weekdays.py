"""The days of the week a plan admits: what a manager may write, how it is stored, said and checked."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from flask import Flask

from common.i18n import init_i18n
from common.weekdays import STORED, WeekdaysError, allows, day_names, parse_weekdays, weekdays_label


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("1-5", "12345"),
        ("12345", "12345"),
        ("54321", "12345"),
        (" 1 - 5 ", "12345"),
        ("1–5", "12345"),  # the en dash a label shows, pasted back
        ("1,3,5", "135"),
        ("1-3 6", "1236"),
        ("6;7", "67"),
        ("2,2,2", "2"),
        (("1", "2", "3", "4", "5"), "12345"),  # ticked boxes
        (("6", "7"), "67"),
        ("1-7", None),  # every day has one spelling: none
        ("1234567", None),
        ("", None),
        ("  ", None),
        ((), None),  # no box ticked
        (None, None),
    ],
)
def test_what_a_manager_writes_is_stored_in_one_spelling(written: str | tuple[str, ...] | None, stored: str) -> None:
    assert parse_weekdays(written) == stored
    assert stored is None or STORED.fullmatch(stored)


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("0", "« 0 »"),
        ("8", "« 8 »"),
        ("1-8", "« 1-8 »"),
        ("lundi", "« lundi »"),
        ("1-5x", "« 1-5x »"),
        ("١٢", "« ١٢ »"),  # digits of another script are not weekdays
        ("5-1", "du plus petit au plus grand"),
        (("1", "9"), "« 9 »"),
    ],
)
def test_bad_days_are_refused_in_french(written: str | tuple[str, ...], said: str) -> None:
    with pytest.raises(WeekdaysError) as refused:
        parse_weekdays(written)
    assert said in str(refused.value)
    assert str(refused.value).startswith("jours «")


def test_a_long_mistake_is_not_echoed_whole() -> None:
    with pytest.raises(WeekdaysError) as refused:
        parse_weekdays("x" * 10_000)
    assert len(str(refused.value)) < 200


def test_the_stored_pattern_takes_only_days_in_order_each_once() -> None:
    for good in ("1", "7", "12345", "67", "135", "1234567"):
        assert STORED.fullmatch(good), good
    for bad in ("", "0", "8", "21", "112", "12345678", "1 2", "a"):
        assert not STORED.fullmatch(bad), bad


def test_allows_reads_the_iso_weekday_of_a_local_date() -> None:
    friday, saturday, sunday, monday = (dt.date(2026, 11, d) for d in (27, 28, 29, 30))
    assert [allows("12345", d) for d in (friday, saturday, sunday, monday)] == [True, False, False, True]
    assert [allows("67", d) for d in (friday, saturday, sunday, monday)] == [False, True, True, False]
    assert all(allows(None, friday + dt.timedelta(days=n)) for n in range(7))


def test_labels_in_french_outside_a_request() -> None:
    assert weekdays_label(None) == "tous les jours"
    assert weekdays_label("12345") == "lun.–ven."
    assert weekdays_label("67") == "sam., dim."
    assert weekdays_label("135") == "lun., mer., ven."
    assert weekdays_label("123567") == "lun.–mer., ven.–dim."
    assert weekdays_label("1") == "lun."
    assert [number for number, _name in day_names()] == ["1", "2", "3", "4", "5", "6", "7"]


def test_labels_and_refusals_in_english_on_an_english_page() -> None:
    app = Flask(__name__)
    init_i18n(app, "en")
    with app.test_request_context("/"):
        assert weekdays_label("12345") == "Mon–Fri"
        assert weekdays_label(None) == "every day"
        assert [name for _n, name in day_names()] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        with pytest.raises(WeekdaysError) as refused:
            parse_weekdays("9")
        assert str(refused.value).startswith("days “9”")


def test_the_door_can_check_days_without_loading_flask() -> None:
    # The door imports the policy, which imports this module: a door must start without the web toolkit.
    code = "import sys, access.policy, common.weekdays; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
