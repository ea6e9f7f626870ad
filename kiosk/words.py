"""The words the touchscreen shows for a tap, a refusal or a pass, in the visitor's language (gettext).

The door sends facts (sync/localbus.py `Tap`): the reason, the first name, what was charged, the balance. The
sentences are made here, so each screen speaks its reader's language. French is the message id; the English is in
the catalog.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from flask_babel import format_date, format_datetime

from access.passes import PassSpan
from access.policy import Reason
from common.i18n import _, ngettext
from common.words import Alarm, PlanKind, Slot
from kiosk.vouchers import ROOM_HALFDAY
from sync.localbus import Tap


def kind_label(kind: str) -> str:
    labels: dict[str, str] = {
        PlanKind.PASS_HALFDAY: _("Demi-journée"),
        PlanKind.PASS_DAY: _("Journée"),
        PlanKind.PASS_WEEK: _("Semaine"),
        PlanKind.PASS_MONTH: _("Mois"),
        PlanKind.CARNET: _("Carnet"),
        PlanKind.UNLIMITED: _("Illimité"),
        ROOM_HALFDAY: _("Demi-journée de salle"),
        "room": _("Salle ou bureau"),  # a walk-in's booking paid at the counter (kiosk/booking.py, ROOM_SALE)
    }
    return labels.get(kind, kind)


def alarm_label(alarm: str) -> str:
    """An alarm of the door's, as the wall display and the admin say it."""
    labels: dict[str, str] = {
        Alarm.FORCED: _("Alarme : porte forcée"),
        Alarm.HELD_OPEN: _("Alarme : porte restée ouverte"),
        Alarm.DATABASE: _(
            "Alarme : base de données illisible, ou disque qui refuse d'écrire. La porte décide sur ce qu'elle sait "
            "et garde les passages à part. Libérez de la place sur le disque, ou restaurez : halfday restore"
        ),
        Alarm.READER: _("Alarme : lecteur de badges absent, aucun badge n'est lu"),
        Alarm.CLOCK: _("Alarme : horloge non fiable, les passes et formules datées attendent"),
        Alarm.ROSTER: _("Alarme : liste des membres trop ancienne, les listes du hub n'arrivent plus"),
        Alarm.BACKLOG: _("Alarme : passages non transmis au hub depuis trop longtemps"),
        Alarm.DISK: _("Alarme : disque presque plein"),
        Alarm.BACKUP: _("Alarme : sauvegarde en échec ou trop ancienne"),
    }
    return labels.get(alarm, alarm)


def slot_label(slot: str) -> str:
    labels: dict[str, str] = {Slot.MORNING: _("le matin"), Slot.AFTERNOON: _("l'après-midi")}
    return labels.get(slot, slot)


def slots_label(slots: list[str] | tuple[str, ...]) -> str:
    if set(slots) >= {Slot.MORNING, Slot.AFTERNOON}:
        return _("toute la journée")
    return ", ".join(slot_label(s) for s in slots)


def half_label(slot: str) -> str:
    """A half-day's name after a date ("mercredi 2 décembre, matin")."""
    labels: dict[str, str] = {Slot.MORNING: _("matin"), Slot.AFTERNOON: _("après-midi")}
    return labels.get(slot, slot)


# A pass of at most this many half-days lists them; a longer one says where it starts and ends.
LISTED_HALF_DAYS = 3


def day_label(date: dt.date) -> str:
    """ "mercredi 2 décembre", in the screen's language."""
    return str(format_date(date, "EEEE d MMMM"))


def span_label(span: PassSpan, closures: Collection[dt.date] = ()) -> str:
    """Exactly which half-days a pass covers, as the buyer reads it before paying."""
    half_days = span.half_days(closures)
    if len(half_days) <= LISTED_HALF_DAYS:
        days: dict[dt.date, list[str]] = {}
        for date, slot in half_days:
            days.setdefault(date, []).append(half_label(slot))
        return _(" ; ").join(
            _("%(day)s, %(halves)s", day=day_label(date), halves=_(" et ").join(halves))
            for date, halves in days.items()
        )
    first, last = half_days[0], half_days[-1]
    return _(
        "du %(first)s, %(first_half)s, au %(last)s, %(last_half)s",
        first=day_label(first[0]),
        first_half=half_label(first[1]),
        last=day_label(last[0]),
        last_half=half_label(last[1]),
    )


def closed_days_label(span: PassSpan, closures: Collection[dt.date]) -> str | None:
    """The closure days inside a pass (given back at its end), or None."""
    closed = sorted(d for d in closures if span.first_date <= d <= span.last_date)
    if not closed:
        return None
    return _("Fermé le %(days)s : ces jours sont rendus en fin de pass.", days=", ".join(map(day_label, closed)))


def refusal_at_door(reason: Reason) -> str:
    """Why the door stays shut, and what to do next, in words a visitor understands without the manager."""
    texts = {
        Reason.UNKNOWN: _("Badge inconnu. Achetez un pass à l'écran ou adressez-vous à l'accueil."),
        Reason.REVOKED: _("Ce badge a été désactivé. Adressez-vous à l'accueil."),
        Reason.INACTIVE: _("Votre adhésion est suspendue. Adressez-vous à l'accueil."),
        Reason.NO_PLAN: _("Aucune formule active sur ce badge. Adressez-vous à l'accueil ou achetez un pass."),
        Reason.EXPIRED: _("Votre formule a expiré. Renouvelez-la à l'accueil ou achetez un pass à l'écran."),
        Reason.NOT_YET_VALID: _("Votre formule n'a pas encore commencé. Revenez à la date prévue."),
        Reason.OUTSIDE_HOURS: _("Votre formule ne permet pas d'entrer à cette heure-ci."),
        Reason.OUTSIDE_WEEKDAYS: _(
            "Votre formule n'est pas valable ce jour de la semaine. Revenez un jour qu'elle prévoit, ou achetez un "
            "pass à l'écran."
        ),
        Reason.NO_CREDIT: _("Votre carnet est épuisé. Rechargez-le à l'accueil ou achetez un pass à l'écran."),
        Reason.CLOCK_UNSURE: _("L'heure de la porte n'est pas sûre : entrée refusée pour ce pass. Appelez l'accueil."),
        Reason.CLOSED: _("L'espace est fermé aujourd'hui. Revenez un jour d'ouverture."),
        Reason.NO_BOOKING: _("Pas de réservation de cette salle maintenant. Adressez-vous à l'accueil."),
    }
    return texts.get(reason, _("Entrée refusée. Adressez-vous à l'accueil."))


def door_sentence(tap: Tap) -> str:
    """The sentence the door's decision gets on the screen: a welcome and what it cost, or the refusal."""
    if not tap.granted:
        text = refusal_at_door(tap.reason)
        if tap.first_name and tap.reason != Reason.UNKNOWN:
            text = _("%(name)s, %(refusal)s", name=tap.first_name, refusal=text[0].lower() + text[1:])
        return text
    hello = _("Bonjour %(name)s !", name=tap.first_name or "")
    if tap.reason == Reason.STAFF:
        return _("%(hello)s L'espace est fermé aujourd'hui : entrée de l'équipe, rien n'est compté.", hello=hello)
    if tap.reason == Reason.BOOKED:
        return _("%(hello)s Votre réservation vous ouvre : la demi-journée est comptée avec elle.", hello=hello)
    if not tap.charged:
        return _("%(hello)s Demi-journée déjà comptée.", hello=hello)
    slot = _("cet après-midi") if tap.slot == Slot.AFTERNOON else _("ce matin")
    if tap.spent and tap.balance is not None:
        return _(
            "%(hello)s Une demi-journée décomptée pour %(slot)s, il vous en reste %(left)d.",
            hello=hello,
            slot=slot,
            left=tap.balance,
        )
    return _("%(hello)s Demi-journée comptée pour %(slot)s.", hello=hello, slot=slot)


def not_recorded_sale() -> str:
    """A sale the ledger could not write (its disk full or failing): it did not happen, and nothing was charged."""
    return _(
        "La vente n'a pas pu être enregistrée : la borne ne peut pas écrire dans sa mémoire en ce moment. Rien n'a "
        "été payé ni débité. Réessayez dans quelques minutes ou adressez-vous à l'accueil."
    )


def not_recorded() -> str:
    """Any change the ledger could not write: nothing was changed."""
    return _(
        "Cela n'a pas pu être enregistré : la borne ne peut pas écrire dans sa mémoire en ce moment. Rien n'a été "
        "changé ni débité. Réessayez dans quelques minutes ou adressez-vous à l'accueil."
    )


def refusal(reason: str, details: dict[str, Any] | None = None) -> str:
    """A refused sale, payment or code, with what to do next."""
    d = details or {}
    if reason == "name_long":
        return _("Ce nom est trop long (%(max)d caractères au plus).", max=d.get("max", 160))
    if reason == "voucher_kind" and d.get("kind") == ROOM_HALFDAY:
        return _(
            "Ce bon paie une demi-journée de salle ou de bureau, pas un pass : utilisez-le avec « Réserver une salle »."
        )
    if reason == "voucher_kind" and d.get("wanted") == ROOM_HALFDAY:
        return _(
            "Ce bon est prévu pour un pass « %(kind)s », pas pour une salle : utilisez-le en achetant ce pass, ou "
            "payez la salle à l'accueil.",
            kind=kind_label(str(d.get("kind"))),
        )
    if reason == "voucher_kind":
        return _(
            "Ce bon est prévu pour un pass « %(kind)s » : revenez en arrière et choisissez ce pass.",
            kind=kind_label(str(d.get("kind"))),
        )
    if reason == "counter_kind":
        return _(
            "Un pass « %(kind)s » se paie d'avance, avec un bon prépayé vendu à l'accueil : choisissez « Bon "
            "prépayé ».",
            kind=kind_label(str(d.get("kind"))),
        )
    if reason == "voucher_used":
        at = d.get("at")
        when = format_datetime(at, "short") if isinstance(at, dt.datetime) else "?"
        return _(
            "Ce bon a déjà été utilisé (le %(when)s). Chaque bon ne sert qu'une fois : adressez-vous à l'accueil.",
            when=when,
        )
    if reason == "throttled":
        return _(
            "Trop d'essais : réessayez dans %(seconds)d secondes, ou adressez-vous à l'accueil.",
            seconds=int(d.get("seconds", 60)) + 1,
        )
    texts = {
        "name_missing": _("Indiquez votre nom : l'accueil doit savoir qui est entré."),
        "email_invalid": _("Cette adresse e-mail n'est pas complète (par exemple : prenom@exemple.fr)."),
        "card_invalid": _("Cette carte n'a pas pu être lue. Réessayez, ou continuez sans carte."),
        "card_member": _("Cette carte est le badge d'un membre : badgez-la directement à la porte."),
        "provider_missing": _("Choisissez comment payer."),
        "voucher_missing": _("Tapez le code imprimé sur votre bon."),
        "voucher_format": _(
            "Ce code n'a pas la forme d'un bon : 12 caractères, par exemple 1K4P-7RQD-M2XA. Vérifiez la saisie."
        ),
        "voucher_tag": _(
            "Ce code n'est pas un bon de ce lieu. Vérifiez chaque caractère, ou payez à l'accueil à la place."
        ),
        "offer_gone": _("Ce pass n'est plus en vente à cette heure : choisissez-en un autre."),
        "counter_closed": _(
            "Le paiement à l'accueil n'est possible qu'aux heures d'ouverture de l'accueil. Payez avec un bon, ou "
            "revenez pendant l'accueil."
        ),
        "counter_full": _(
            "Trop de pass restent à régler à l'accueil pour cette demi-journée : réglez d'abord à l'accueil, ou "
            "payez avec un bon."
        ),
        "closed_hours": _("La vente de pass est fermée à cette heure. Revenez pendant les heures d'ouverture."),
        "closed_closure": _("L'espace est fermé aujourd'hui : aucun pass n'est en vente. Revenez un jour d'ouverture."),
        "closed_clock": _("La vente de pass est suspendue : l'heure de la borne n'est pas sûre. Appelez l'accueil."),
        "closed_none": _("Ce lieu ne vend pas de pass à cet écran. Adressez-vous à l'accueil."),
        "span_changed": _(
            "L'heure a tourné : les demi-journées de ce pass ont changé. Vérifiez-les ci-dessus, puis validez à "
            "nouveau."
        ),
        "not_recorded": not_recorded_sale(),
        "code_format": _("Le code a 6 chiffres : il est affiché au moment de l'achat."),
        "code_unknown": _(
            "Ce code n'ouvre pas maintenant : vérifiez les chiffres. Un pass n'ouvre que pendant ses demi-journées."
        ),
    }
    return texts.get(reason, _("Opération impossible. Adressez-vous à l'accueil."))


def describe_tap(tap: Tap) -> dict[str, Any]:
    """What the touchscreen shows for one tap: a title, the door's sentence, and the details as short chips."""
    chips: list[str] = []
    if tap.granted:
        title = tap.first_name or _("Bienvenue !")
        if tap.reason == Reason.STAFF:
            chips.append(_("Équipe : jour de fermeture"))
        elif tap.reason == Reason.BOOKED:
            chips.append(_("Réservation"))
        elif tap.plan == PlanKind.CARNET and tap.spent:
            chips.append(_("1 demi-journée décomptée"))
        elif tap.charged:
            chips.append(_("Demi-journée comptée"))
        else:
            chips.append(_("Déjà comptée : entrée libre"))
        if tap.balance is not None and tap.balance <= 0:
            chips.append(_("Carnet épuisé : pensez à le recharger"))
        elif tap.balance is not None:
            chips.append(
                ngettext(
                    "Il vous reste %(num)d demi-journée",
                    "Il vous reste %(num)d demi-journées",
                    tap.balance,
                )
            )
        elif tap.plan:
            chips.append(kind_label(tap.plan))
    else:
        title = _("Entrée refusée")
    return {
        "granted": tap.granted,
        "title": title,
        "message": door_sentence(tap),
        "chips": chips,
        "holder": tap.holder,
        "event": tap.event,
        "seq": tap.seq,
    }
