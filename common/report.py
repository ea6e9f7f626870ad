"""The funders' report, computed once for the hub and the appliance: half-day uses by kind against the target,
distinct people, new members, members who came back, uses per weekday and slot, and the 12-month trend.

Each side describes its uses as "facts" (`FACT_COLUMNS`, common/report_query.py), built from its own tables: the
uses, and the subscriptions, passes and bookings they name by id. Never from names or the access log's payloads,
so the figures stay the same once the log is reduced after three months and a member is erased. Here: the period,
the figures and the words; the counting is in common/report_query.py.

The definitions a funder reads are `definitions()`: the page and the PDF print them as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from common.i18n import _
from common.tables import month_bounds

# What a use is, by where and by whom (the `kind` of a fact), in the order reports show them.
KINDS = ("members", "passes", "guests", "offices", "meeting_room", "other_rooms")
# Who a person is (the `who` of a fact): a member, a walk-in (a pass, or a room booked without membership), a
# member's guest.
WHO = ("member", "walk_in", "guest")
SLOTS = ("morning", "afternoon")
# The columns a side's facts query has, one row per half-day use: `person` identifies who used it (a member's id,
# a pass's id, a walk-in booking's id, a guest's id) and `member` is the member's id when a member used it.
FACT_COLUMNS = ("site_id", "local_date", "slot", "kind", "who", "person", "member")
TREND_MONTHS = 12
FIRST_YEAR = 2000


class PeriodError(ValueError):
    """Not a month or a year the report can be made for: the French reason."""


@dataclass(frozen=True, order=True)
class Period:
    """A month (`month` 1 to 12) or a whole year (`month` None)."""

    year: int
    month: int | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Period:
        """'2026-11' (a month) or '2026' (a year); PeriodError with the reason otherwise."""
        text = (raw or "").strip()
        if re.fullmatch(r"\d{4}", text):
            period = cls(int(text))
        elif re.fullmatch(r"\d{4}-\d{2}", text):
            period = cls(int(text[:4]), int(text[5:]))
            if not 1 <= (period.month or 0) <= 12:
                raise PeriodError(_("Période « %(p)s » : le mois doit être entre 01 et 12.", p=text[:20]))
        else:
            raise PeriodError(_("Période « %(p)s » : attendu AAAA-MM (un mois) ou AAAA (une année).", p=text[:20]))
        if not FIRST_YEAR <= period.year <= 9998:
            raise PeriodError(_("Période « %(p)s » : année hors limites.", p=text[:20]))
        return period

    @classmethod
    def asked(cls, raw: str | None, today: dt.date) -> Period:
        """The period a page was asked for (`?period=`), `today`'s month when none; PeriodError when wrong."""
        return cls.parse(raw) if raw else cls(today.year, today.month)

    @property
    def key(self) -> str:
        return f"{self.year:04d}" if self.month is None else f"{self.year:04d}-{self.month:02d}"

    @property
    def months(self) -> list[tuple[int, int]]:
        return [(self.year, m) for m in range(1, 13)] if self.month is None else [(self.year, self.month)]

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month or 1, 1)

    @property
    def end(self) -> dt.date:
        """The day after the period: [start, end)."""
        return dt.date(self.year + 1, 1, 1) if self.month is None else month_bounds(self.year, self.month)[1]

    @property
    def trend(self) -> list[tuple[int, int]]:
        """The 12 months ending with the period's last month."""
        last = (self.year, self.month or 12)
        return [_shift(last, -i) for i in range(TREND_MONTHS - 1, -1, -1)]


def _shift(month: tuple[int, int], by: int) -> tuple[int, int]:
    index = month[0] * 12 + month[1] - 1 + by
    return index // 12, index % 12 + 1


@dataclass
class Figures:
    """The report's figures for one site, or for several together (the network)."""

    monthly_target: int = 0
    uses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    people: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WHO, 0))
    new_members: int = 0
    came_back: int = 0
    # (weekday: 0 Monday .. 6 Sunday, slot) -> uses
    week: dict[tuple[int, str], int] = field(default_factory=dict)
    # (year, month) -> uses by kind, for the 12 months of the trend
    trend: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.uses.values())

    @property
    def people_total(self) -> int:
        return sum(self.people.values())

    def weekday(self, day: int) -> int:
        return sum(self.week.get((day, slot), 0) for slot in SLOTS)

    def slot(self, slot: str) -> int:
        return sum(self.week.get((day, slot), 0) for day in range(7))

    def trend_total(self, month: tuple[int, int]) -> int:
        return sum(self.trend.get(month, {}).values())


@dataclass(frozen=True)
class SiteFigures:
    site_id: str
    name: str
    figures: Figures


@dataclass(frozen=True)
class Report:
    """The period's figures for each site and for all of them together (`network`)."""

    period: Period
    sites: list[SiteFigures]
    network: Figures

    def target(self, figures: Figures) -> int:
        """The period's target: the monthly target, times twelve for a year."""
        return figures.monthly_target * len(self.period.months)

    def percent(self, figures: Figures) -> int | None:
        """The uses as a share of the target, rounded; None without a target."""
        target = self.target(figures)
        return round(100 * figures.total / target) if target else None


def definitions() -> list[tuple[str, str]]:
    """What each figure counts, in the reader's language: printed on the page and in the PDF."""
    return [
        (
            _("Demi-journée"),
            _(
                "Un matin ou un après-midi (aux heures du site) passé sur place par une personne. Une personne qui "
                "entre plusieurs fois dans la même demi-journée compte une fois."
            ),
        ),
        (_("Espace ouvert, membres"), _("Demi-journées de l'espace ouvert par les membres (carnet ou abonnement).")),
        (_("Espace ouvert, passes"), _("Demi-journées de l'espace ouvert par des visiteurs avec un pass acheté.")),
        (_("Invités"), _("Demi-journées des invités d'un membre (entrée par un code d'un jour).")),
        (
            _("Bureaux, salle de réunion, autres salles"),
            _("Demi-journées réservées, par des membres ou des visiteurs. Une réservation annulée ne compte pas."),
        ),
        (
            _("Objectif"),
            _(
                "L'objectif mensuel du site ; pour une année, douze fois l'objectif mensuel ; pour le réseau, la "
                "somme des sites."
            ),
        ),
        (
            _("Personnes distinctes"),
            _(
                "Membres comptés une fois chacun ; chaque pass compte pour une personne (un visiteur qui achète deux "
                "passes compte deux fois) ; de même chaque réservation sans adhésion et chaque invité. Pour le réseau, "
                "un membre venu dans deux sites compte une fois."
            ),
        ),
        (
            _("Nouveaux membres"),
            _("Membres dont la première demi-journée au site (au réseau, pour le réseau) tombe dans la période."),
        ),
        (
            _("Membres revenus"),
            _(
                "Membres venus dans un mois de la période après un mois sans venir, et qui étaient venus avant ce "
                "mois-là. Chaque membre compte une fois dans la période."
            ),
        ),
        (_("Tendance"), _("Les douze mois qui finissent avec le dernier mois de la période.")),
    ]


def weekday_names() -> list[str]:
    return [_("lundi"), _("mardi"), _("mercredi"), _("jeudi"), _("vendredi"), _("samedi"), _("dimanche")]


def kind_names() -> dict[str, str]:
    return {
        "members": _("Espace ouvert, membres"),
        "passes": _("Espace ouvert, passes"),
        "guests": _("Invités"),
        "offices": _("Bureaux"),
        "meeting_room": _("Salle de réunion"),
        "other_rooms": _("Autres salles"),
    }


def who_names() -> dict[str, str]:
    return {"member": _("Membres"), "walk_in": _("Visiteurs"), "guest": _("Invités")}


def slot_names() -> dict[str, str]:
    return {"morning": _("Matin"), "afternoon": _("Après-midi")}


def month_label(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"
