"""What the door says to a member or a walk-in, in French first and in English.

Refusals say what happened and what to do next, in words a visitor understands without the manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from access.policy import Decision

LANGUAGES = ("fr", "en")

_SLOT = {
    "fr": {"morning": "la matinée", "afternoon": "l'après-midi"},
    "en": {"morning": "this morning", "afternoon": "this afternoon"},
}

_REFUSALS = {
    "fr": {
        "unknown": "Badge inconnu. Achetez un pass à l'écran ou adressez-vous à l'accueil.",
        "revoked": "Ce badge a été désactivé. Adressez-vous à l'accueil.",
        "inactive": "Votre adhésion est suspendue. Adressez-vous à l'accueil.",
        "no_plan": "Aucune formule active sur ce badge. Adressez-vous à l'accueil ou achetez un pass.",
        "expired": "Votre formule a expiré. Renouvelez-la à l'accueil ou achetez un pass à l'écran.",
        "not_yet_valid": "Votre formule n'a pas encore commencé. Revenez à la date prévue.",
        "outside_hours": "Votre formule ne permet pas d'entrer à cette heure-ci.",
        "no_credit": "Votre carnet est épuisé. Rechargez-le à l'accueil ou achetez un pass à l'écran.",
        "clock_unsure": "L'heure de la porte n'est pas sûre : entrée refusée pour ce pass. Appelez l'accueil.",
    },
    "en": {
        "unknown": "Unknown badge. Buy a pass on the screen or ask at the desk.",
        "revoked": "This badge has been deactivated. Please ask at the desk.",
        "inactive": "Your membership is suspended. Please ask at the desk.",
        "no_plan": "No active plan on this badge. Ask at the desk or buy a pass.",
        "expired": "Your plan has expired. Renew it at the desk or buy a pass on the screen.",
        "not_yet_valid": "Your plan has not started yet. Come back on its start date.",
        "outside_hours": "Your plan does not allow entry at this time.",
        "no_credit": "Your carnet is used up. Top it up at the desk or buy a pass on the screen.",
        "clock_unsure": "The door's clock is not reliable: this pass cannot be checked. Please call the desk.",
    },
}


def message(decision: Decision, lang: str = "fr") -> str:
    """The sentence shown at the door for `decision`."""
    lang = lang if lang in LANGUAGES else "fr"
    if not decision.granted:
        text = _REFUSALS[lang][decision.reason.value]
        if decision.first_name and decision.reason.value != "unknown":
            text = f"{decision.first_name}, {text[0].lower()}{text[1:]}"
        return text
    name = decision.first_name or ""
    hello = f"Bonjour {name} !" if lang == "fr" else f"Welcome {name}!"
    charge = decision.charge
    if charge is None:
        already = "Demi-journée déjà comptée." if lang == "fr" else "This half-day is already counted."
        return f"{hello} {already}"
    slot = _SLOT[lang][charge.slot]
    if charge.spent and charge.balance_after is not None:
        left = charge.balance_after
        if lang == "fr":
            return f"{hello} Une demi-journée décomptée pour {slot}, il vous en reste {left}."
        return f"{hello} One half-day used for {slot}; {left} left on your carnet."
    if lang == "fr":
        return f"{hello} Demi-journée comptée pour {slot}."
    return f"{hello} Half-day counted for {slot}."
