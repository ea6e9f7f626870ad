"""The days of the week a plan admits, shared by the appliance, the hub and their pages.

Stored compactly as the ISO weekdays allowed, in order and each once ("12345": Monday to Friday); None means every
day. A manager writes them as "1-5", "12345", "1,3,5" or ticks boxes; all seven days are stored as None, so that
"every day" has one spelling.

The door imports this module for `allows` alone and must not load Flask: the functions that speak import the
gettext of common/i18n.py when they are called, not when the module is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

ALL_DAYS = "1234567"
# A stored value: at least one day, the days in order, none twice. The roster's check uses the same pattern.
STORED = re.compile(r"(?=[1-7])1?2?3?4?5?6?7?")
_RANGE = re.compile(r"([1-7])-([1-7])")
_DASH = re.compile(r"\s*[-–]\s*")
_SEPARATORS = re.compile(r"[,;\s]+")


class WeekdaysError(ValueError):
    """Days of the week that cannot be read (the message says why, in the page's language)."""


def parse_weekdays(raw: str | Iterable[str] | None) -> str | None:
    """The stored form of days written by a manager: "1-5", "12345", "1,3,5", "1-3 6", or the values of ticked boxes.

    Nothing written, or every day, gives None (every day). Raises WeekdaysError on anything else.
    """
    from common.i18n import _

    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else list(raw)
    days: set[int] = set()
    for item in items:
        for part in _SEPARATORS.split(_DASH.sub("-", item.strip())):
            if not part:
                continue
            run = _RANGE.fullmatch(part)
            if run is not None:
                first, last = int(run[1]), int(run[2])
                if first > last:
                    raise WeekdaysError(
                        _(
                            "jours « %(given)s » : une plage va du plus petit au plus grand, par exemple 1-5",
                            given=part[:20],
                        )
                    )
                days.update(range(first, last + 1))
            elif set(part) <= set(ALL_DAYS):
                days.update(int(d) for d in part)
            else:
                raise WeekdaysError(
                    _(
                        "jours « %(given)s » : attendu des chiffres de 1 (lundi) à 7 (dimanche), par exemple 1-5 ou "
                        "12345",
                        given=part[:20],
                    )
                )
    if not days or len(days) == 7:
        return None
    return "".join(str(d) for d in sorted(days))


def allows(weekdays: str | None, day: dt.date) -> bool:
    """Whether a plan with these stored days admits an entry on the local date `day`."""
    return weekdays is None or str(day.isoweekday()) in weekdays


def day_names() -> list[tuple[str, str]]:
    """Each ISO weekday with its short name, Monday first: the boxes of a plan form."""
    from common.i18n import _

    names = (_("lun."), _("mar."), _("mer."), _("jeu."), _("ven."), _("sam."), _("dim."))
    return [(str(number), name) for number, name in enumerate(names, start=1)]


def weekdays_label(weekdays: str | None) -> str:
    """The stored days in words: "tous les jours", "lun.–ven.", "lun., mer., ven.", "lun.–mer., sam."."""
    from common.i18n import _

    if weekdays is None:
        return _("tous les jours")
    names = dict(day_names())
    numbers = [int(d) for d in weekdays]
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][-1] == number - 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    # Three days or more in a row read better as a span; two stay a list ("sam., dim.").
    words = [
        f"{names[str(run[0])]}–{names[str(run[-1])]}" if len(run) >= 3 else ", ".join(names[str(n)] for n in run)
        for run in runs
    ]
    return ", ".join(words)
