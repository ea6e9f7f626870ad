"""The door's sentences, made on the screen from the facts of a tap (sync/localbus.py `Tap`), in French and in
English: what each refusal says to do next, a welcome with what it cost, a re-entry for free."""

from __future__ import annotations

import dataclasses

from flask import Flask, session

from access.policy import Reason
from common.words import PlanKind, Slot
from kiosk.words import describe_tap, door_sentence
from sync.localbus import Tap
from tests.support.kiosk import TAP

GRANTED = dataclasses.replace(TAP, seq=1, balance=1)


def words(app: Flask, tap: Tap, lang: str) -> str:
    with app.test_request_context("/"):
        session["lang"] = lang
        return door_sentence(tap)


def test_a_welcome_says_what_was_spent_and_what_is_left(app: Flask) -> None:
    assert words(app, GRANTED, "fr") == "Bonjour Alice ! Une demi-journée décomptée pour ce matin, il vous en reste 1."
    assert words(app, GRANTED, "en") == "Welcome Alice! One half-day used for this morning; 1 left on your carnet."
    unlimited = dataclasses.replace(GRANTED, plan=PlanKind.UNLIMITED, spent=0, balance=None, slot=Slot.AFTERNOON)
    assert words(app, unlimited, "fr") == "Bonjour Alice ! Demi-journée comptée pour cet après-midi."
    again = dataclasses.replace(GRANTED, charged=False, spent=0)
    assert words(app, again, "fr") == "Bonjour Alice ! Demi-journée déjà comptée."
    assert words(app, again, "en") == "Welcome Alice! This half-day is already counted."


def test_a_refusal_says_what_to_do_next_and_whose_it_is(app: Flask) -> None:
    unknown = dataclasses.replace(GRANTED, granted=False, reason=Reason.UNKNOWN, first_name=None, charged=False)
    assert words(app, unknown, "fr") == "Badge inconnu. Achetez un pass à l'écran ou adressez-vous à l'accueil."
    assert words(app, unknown, "en").startswith("Unknown badge.")
    used_up = dataclasses.replace(unknown, reason=Reason.NO_CREDIT, first_name="Alice")
    assert words(app, used_up, "fr").startswith("Alice, votre carnet est épuisé.")
    assert words(app, used_up, "en").startswith("Alice, your carnet is used up.")
    for reason in Reason:
        if reason not in (Reason.GRANTED, Reason.STAFF, Reason.BOOKED):  # STAFF, BOOKED: granted too
            said = words(app, dataclasses.replace(unknown, reason=reason), "fr")
            assert said and "Entrée refusée." not in said, reason  # every refusal has its own sentence


def test_a_booking_says_it_opened_and_a_rooms_door_why_it_did_not(app: Flask) -> None:
    booked = dataclasses.replace(GRANTED, reason=Reason.BOOKED, charged=False, spent=0, balance=None)
    assert (
        words(app, booked, "fr")
        == "Bonjour Alice ! Votre réservation vous ouvre : la demi-journée est comptée avec elle."
    )
    assert words(app, booked, "en") == "Welcome Alice! Your booking lets you in: the half-day is counted with it."
    with app.test_request_context("/"):
        assert describe_tap(booked)["chips"][0] == "Réservation"
    refused = dataclasses.replace(booked, granted=False, reason=Reason.NO_BOOKING, first_name=None)
    assert words(app, refused, "fr") == "Pas de réservation de cette salle maintenant. Adressez-vous à l'accueil."


def test_the_chips_show_the_balance(app: Flask) -> None:
    with app.test_request_context("/"):
        shown = describe_tap(GRANTED)
    assert shown["title"] == "Alice" and shown["chips"] == ["1 demi-journée décomptée", "Il vous reste 1 demi-journée"]
