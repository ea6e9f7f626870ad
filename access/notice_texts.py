"""The words of the e-mail notices, in French and in English: plain text a member reads on a phone.

Only what the notice needs: a first name, a plan's name, a count, a date. The mail worker adds the site's name
(subject and signature) when it sends, so the writers, which run inside the door's and the kiosk's transactions,
need no more than the database gives them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from common.words import PlanKind

LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


def _language(language: str | None) -> str:
    return language if language in LANGUAGES else "fr"


def long_date(day: dt.date, language: str) -> str:
    """ "lundi 7 décembre 2026" / "Monday, December 7, 2026"."""
    return _format_date(day, "full", _language(language))


def _half_days(count: int, language: str) -> str:
    if language == "en":
        return f"{count} half-day" + ("" if abs(count) == 1 else "s")
    return f"{count} demi-journée" + ("" if abs(count) <= 1 else "s")


KIND_LABELS = {
    PlanKind.PASS_HALFDAY: ("Pass demi-journée", "Half-day pass"),
    PlanKind.PASS_DAY: ("Pass journée", "Day pass"),
    PlanKind.PASS_WEEK: ("Pass semaine", "Week pass"),
    PlanKind.PASS_MONTH: ("Pass mois", "Month pass"),
    PlanKind.CARNET: ("Carnet", "Carnet"),
    PlanKind.UNLIMITED: ("Formule illimitée", "Unlimited plan"),
}
SLOT_LABELS = {"morning": ("matin", "morning"), "afternoon": ("après-midi", "afternoon")}


def kind_label(kind: str, language: str) -> str:
    try:
        labels = KIND_LABELS[PlanKind(kind)]
    except (ValueError, KeyError):
        return kind
    return labels[1] if language == "en" else labels[0]


def slot_label(slots: str, language: str) -> str:
    """ "matin", "après-midi", or "journée" for both, of a comma-separated list of slots."""
    names = [s for s in slots.split(",") if s in SLOT_LABELS]
    if len(names) != 1:
        return "whole day" if language == "en" else "journée entière"
    return SLOT_LABELS[names[0]][1 if language == "en" else 0]


def low_carnet(first_name: str, plan: str, left: int, language: str | None) -> Text:
    if _language(language) == "en":
        if left <= 0:
            return Text(
                "Your carnet is used up",
                f"Hello {first_name},\n\nYour carnet “{plan}” has no half-day left ({left}).\n"
                "To refill it, tap your badge at the touchscreen or ask at the desk.",
            )
        return Text(
            f"Your carnet: {_half_days(left, 'en')} left",
            f"Hello {first_name},\n\nYour carnet “{plan}” has {_half_days(left, 'en')} left.\n"
            "To refill it, tap your badge at the touchscreen or ask at the desk.",
        )
    if left <= 0:
        return Text(
            "Votre carnet est épuisé",
            f"Bonjour {first_name},\n\nVotre carnet « {plan} » n'a plus de demi-journée ({left}).\n"
            "Pour le recharger, badgez à l'écran tactile ou demandez à l'accueil.",
        )
    return Text(
        f"Votre carnet : plus que {_half_days(left, 'fr')}",
        f"Bonjour {first_name},\n\nIl reste {_half_days(left, 'fr')} sur votre carnet « {plan} ».\n"
        "Pour le recharger, badgez à l'écran tactile ou demandez à l'accueil.",
    )


def test_message(language: str | None) -> Text:
    if _language(language) == "en":
        return Text("Test e-mail", "Hello,\n\nThis e-mail was sent from the desk to check that e-mails go out.")
    return Text(
        "E-mail d'essai", "Bonjour,\n\nCet e-mail a été envoyé depuis l'accueil pour vérifier que les e-mails partent."
    )


def plan_ending(first_name: str, plan: str, last_day: dt.date, language: str | None) -> Text:
    lang = _language(language)
    when = long_date(last_day, lang)
    if lang == "en":
        return Text(
            f"Your plan ends on {when}",
            f"Hello {first_name},\n\nYour plan “{plan}” ends on {when} (last day included).\n"
            "To renew it, tap your badge at the touchscreen or ask at the desk.",
        )
    return Text(
        f"Votre formule se termine le {when}",
        f"Bonjour {first_name},\n\nVotre formule « {plan} » se termine le {when} (dernier jour inclus).\n"
        "Pour la renouveler, badgez à l'écran tactile ou demandez à l'accueil.",
    )


@dataclass(frozen=True)
class Purchase:
    """What a receipt says: the buyer's name, what was bought, its price, whether it is paid, and when it is valid
    (None: a refill, valid as the plan is)."""

    name: str
    kind: str
    amount_cents: int
    paid: bool
    at: dt.date
    number: str
    valid_from: tuple[dt.date, str] | None = None  # (date, slots)
    valid_until: tuple[dt.date, str] | None = None


def _euros(cents: int, language: str) -> str:
    if language == "en":
        return f"€{cents / 100:.2f}"
    return f"{cents / 100:.2f} €".replace(".", ",")


def _receipt_body(p: Purchase, lang: str) -> str:
    en = lang == "en"
    lines = [
        f"{'Hello' if en else 'Bonjour'} {p.name},",
        "",
        "Thank you for your purchase. Your receipt:" if en else "Merci pour votre achat. Votre reçu :",
        "",
        f"  {'Receipt no.' if en else 'Reçu n°'} {p.number}",
        f"  Date{':' if en else ' :'} {long_date(p.at, lang)}",
        f"  {kind_label(p.kind, lang)}{':' if en else ' :'} {_euros(p.amount_cents, lang)}",
    ]
    if p.valid_from is not None:
        first_day, first_slots = p.valid_from
        start = f"{long_date(first_day, lang)} ({slot_label(first_slots, lang)})"
        if p.valid_until is None:
            lines.append(f"  {'Valid' if en else 'Valable'}{':' if en else ' :'} {start}")
        else:
            last_day, last_slots = p.valid_until
            end = f"{long_date(last_day, lang)} ({slot_label(last_slots, lang)})"
            lines.append(f"  {'Valid from' if en else 'Valable du'} {start}")
            lines.append(f"  {'to' if en else 'au'} {end}")
    if p.paid:
        lines.append("  Paid." if en else "  Payé.")
    else:
        lines.append("  To be paid at the desk." if en else "  À régler à l'accueil.")
    return "\n".join(lines)


def receipt(p: Purchase, language: str | None) -> Text:
    """In the member's language; for a walk-in, whose language the sale does not record, French then English."""
    if language in LANGUAGES:
        subject = "Your receipt" if language == "en" else "Votre reçu"
        return Text(f"{subject} ({kind_label(p.kind, language)})", _receipt_body(p, language))
    return Text(
        f"Votre reçu / Your receipt ({kind_label(p.kind, 'fr')})",
        _receipt_body(p, "fr") + "\n\n— English —\n\n" + _receipt_body(p, "en"),
    )


def _month_name(month_start: dt.date, language: str) -> str:
    return _format_date(month_start, "LLLL yyyy", language)


def statement(
    first_name: str,
    month_start: dt.date,
    uses: list[tuple[dt.date, str]],
    carnets: list[tuple[str, int]],
    language: str | None,
) -> Text:
    """Last month's half-days, one line a day, and what is left on each carnet."""
    lang = _language(language)
    en = lang == "en"
    month = _month_name(month_start, lang)
    days: dict[dt.date, list[str]] = {}
    for day, slot in sorted(uses):
        days.setdefault(day, []).append(slot)
    lines = [
        f"{'Hello' if en else 'Bonjour'} {first_name},",
        "",
        (
            f"In {month} you came for {_half_days(len(uses), 'en')}."
            if en
            else f"En {month}, vous êtes venu·e {_half_days(len(uses), 'fr')}."
        ),
    ]
    if days:
        lines.append("")
        colon = ":" if en else " :"
        lines.extend(
            f"  - {long_date(day, lang)}{colon} {slot_label(','.join(slots), lang)}" for day, slots in days.items()
        )
    for plan, left in carnets:
        lines.append("")
        lines.append(
            f"Your carnet “{plan}” has {_half_days(left, 'en')} left."
            if en
            else f"Il reste {_half_days(left, 'fr')} sur votre carnet « {plan} »."
        )
    lines.append("")
    lines.append(
        "To stop receiving this statement, ask at the desk."
        if en
        else "Pour ne plus recevoir ce relevé, dites-le à l'accueil."
    )
    subject = f"Your half-days in {month}" if en else f"Vos demi-journées de {month}"
    return Text(subject, "\n".join(lines))


# What each alarm is and what to do, for a manager reading it on a phone: (French, English).
ALARM_WORDS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "forced": (
        ("Porte forcée", "la porte a été ouverte alors qu'elle était verrouillée, sans badge ni bouton de sortie."),
        ("Door forced", "the door was opened while locked, with no badge and no exit button."),
    ),
    "held_open": (
        ("Porte restée ouverte", "la porte est restée ouverte plus longtemps que prévu."),
        ("Door held open", "the door has stayed open longer than allowed."),
    ),
    "database": (
        (
            "Registre illisible ou disque plein",
            "la base de données ne peut plus être lue ou écrite : la porte décide sur ce qu'elle sait et garde les "
            "passages à part. Disque plein : libérez de la place, elle écrira tout ; base abîmée : restaurez une "
            "sauvegarde (halfday restore).",
        ),
        (
            "Ledger unreadable or disk full",
            "the database cannot be read or written: the door decides on what it knows and keeps the entries aside. "
            "Disk full: free some space and it will write everything; damaged database: restore a backup "
            "(halfday restore).",
        ),
    ),
    "reader": (
        ("Lecteur de badges absent", "le lecteur ne répond plus : aucun badge n'est lu à cette porte."),
        ("Badge reader gone", "the reader does not answer: no badge is read at this door."),
    ),
    "clock": (
        (
            "Horloge non fiable",
            "l'heure de l'appareil n'est pas synchronisée : les passes et formules datées attendent.",
        ),
        ("Clock not trusted", "the device's clock is not synchronised: dated passes and plans wait."),
    ),
    "roster": (
        (
            "Liste des membres trop ancienne",
            "les listes du hub n'arrivent plus : la porte décide sur d'anciens badges et soldes.",
        ),
        ("Members list too old", "the hub's lists no longer arrive: the door decides on old badges and balances."),
    ),
    "backlog": (
        (
            "Passages non transmis",
            "des passages attendent depuis longtemps d'être envoyés au hub : vérifiez la connexion internet.",
        ),
        ("Entries not sent", "entries have waited a long time to reach the hub: check the internet connection."),
    ),
    "disk": (
        (
            "Disque presque plein",
            "il reste peu de place sur le disque de l'appareil : les passages risquent de ne plus être enregistrés.",
        ),
        ("Disk nearly full", "little space is left on the device's disk: entries may soon not be recorded."),
    ),
    "backup": (
        ("Sauvegarde en échec", "la sauvegarde du registre a échoué ou date de trop longtemps."),
        ("Backup failing", "the ledger's backup failed or is too old."),
    ),
}


def alarm(code: str, place: str, at: dt.datetime, detail: str | None, language: str | None) -> Text:
    """An alarm raised at `place` (a door, the site) at `at` (local time), to the site's managers."""
    en = _language(language) == "en"
    words = ALARM_WORDS.get(code)
    title, what = (words[1] if en else words[0]) if words else (code, code)
    when = long_date(at.date(), "en" if en else "fr")
    hour = f"{at:%H:%M}" if en else f"{at.hour} h {at.minute:02d}"
    if en:
        lines = [
            "Hello,",
            "",
            f"Alarm at {place}, {when} at {hour}: {what}",
        ]
        if detail:
            lines.append(f"Detail: {detail}")
        lines += ["", "The wall display shows when it is over. You will get no other e-mail for it within the hour."]
        return Text(f"Alarm: {title}", "\n".join(lines))
    lines = ["Bonjour,", "", f"Alarme à {place}, {when} à {hour} : {what}"]
    if detail:
        lines.append(f"Précision : {detail}")
    lines += [
        "",
        "Le tableau mural indique quand elle cesse. Vous ne recevrez pas d'autre e-mail pour elle dans l'heure.",
    ]
    return Text(f"Alarme : {title}", "\n".join(lines))


def _format_date(day: dt.date, pattern: str, language: str) -> str:
    """Babel's date in words, imported when a text is written: the door and the sync agent, which queue notices
    but seldom write one, do not hold Babel's locale data all day (bench.startup)."""
    from babel.dates import format_date

    return str(format_date(day, pattern, locale=language))
