"""The wall display: who is in, today's half-days, today's board of rooms and offices, the month against its target
(open space, offices and meeting rooms apart and together), recent arrivals, the door and the link to the hub.
The panel is rendered on the server and pushed whole over server-sent events whenever something may have changed;
a browser that reconnects gets a fresh panel first."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import format_date, format_timedelta
from sqlalchemy.exc import DatabaseError

from access.alarms import active_alarms
from access.mailer import MailTrouble, mail_trouble
from common.i18n import _
from common.words import Alarm
from kiosk.chart import ChartLabels, month_chart
from kiosk.context import Kiosk, current_kiosk
from kiosk.live import Keepalive, News, StreamsFull, follow, sse
from kiosk.occupancy import read_occupancy
from kiosk.screen import SSE_RETRY_MS, browser_gone, event_stream, streams_full
from kiosk.words import alarm_label
from sync.localbus import DoorState

bp = Blueprint("display", __name__)
log = logging.getLogger("halfday.kiosk")

# News that changes what the panel shows. "bus" and "refresh" come from the bus link (re)connecting.
PANEL_NEWS = ("tap", "door", "sync", "refresh", "bus")


def ago(moment: dt.datetime | None, now: dt.datetime) -> str | None:
    """ "il y a 3 minutes", in the kiosk's language; to the minute, as the panel is redrawn about once a minute. A
    moment a little ahead of this clock (the hub's) reads as now, not as "in 2 minutes"."""
    if moment is None:
        return None
    return str(format_timedelta(min(moment - now, dt.timedelta(0)), granularity="minute", add_direction=True))


def since_words(moment: dt.datetime, now: dt.datetime, kiosk: Kiosk) -> str:
    """ "14 h 05" today, "le 28/11 à 14 h 05" another day, in the site's time."""
    tz = kiosk.config.site.tz
    since = moment.astimezone(tz)
    when = _("%(hour)d h %(minute)02d", hour=since.hour, minute=since.minute)
    if since.date() != now.astimezone(tz).date():
        when = _("le %(date)s à %(time)s", date=since.strftime("%d/%m"), time=when)
    return str(when)


def alarm_lines(
    raised: dict[Alarm, dt.datetime], door: DoorState | None, now: dt.datetime, kiosk: Kiosk
) -> list[dict[str, str | None]]:
    """The wall's alarms, one sentence each with since when: the ledger's (every writer's), and the door's own from
    the bus, which may be a moment ahead of its events or the only source when the ledger cannot be read."""
    codes = set(raised) | (set(door.alarms) if door is not None and door.online else set())
    return [
        {
            "code": code.value,
            "label": alarm_label(code),
            "since": _("depuis %(when)s", when=since_words(raised[code], now, kiosk)) if code in raised else None,
        }
        for code in sorted(codes, key=list(Alarm).index)
    ]


def mail_line(trouble: MailTrouble | None, now: dt.datetime, kiosk: Kiosk) -> str | None:
    """The wall's one sentence when mail does not go out, None when all is well."""
    if trouble is None:
        return None
    when = since_words(trouble.since, now, kiosk)
    if trouble.cause == "server":
        return _("Les e-mails ne partent plus depuis %(when)s : vérifiez le serveur de messagerie", when=when)
    return _("Des e-mails attendent depuis %(when)s : le service d'envoi (halfday-mail) ne tourne pas", when=when)


def place_label(kind: str) -> str:
    """The wall's name of a kind of place, in the month's split."""
    labels = {
        "open_space": _("Espace ouvert"),
        "office": _("Bureaux"),
        "meeting_room": _("Salles de réunion"),
        "phone_box": _("Cabines"),
    }
    return labels.get(kind, kind)


def panel_context(kiosk: Kiosk) -> dict[str, Any]:
    """Everything the panel template needs, read now from the database and the bus link."""
    config = kiosk.config
    now = kiosk.now()
    link = kiosk.link
    sync = link.sync_status if link is not None else None
    door = link.door_state if link is not None else None
    status = {
        "show_names": config.kiosk.show_names,
        "bus_up": link is not None and link.connected,
        "door": door,
        "sync": sync,
        # How old the members list the door decides on is, and when the last one that failed arrived.
        "roster_age": ago(sync.roster_issued_at, now) if sync is not None else None,
        "roster_failed_age": ago(sync.roster_failed_at, now) if sync is not None else None,
        "networked": config.networked,
        "local_now": now.astimezone(config.site.tz),
    }
    try:
        with kiosk.db.read() as s:
            occupancy = read_occupancy(
                s,
                config.site.id,
                now,
                kiosk.rules,
                config.site.capacity,
                config.site.monthly_target,
                with_arrivals=config.kiosk.show_names,
            )
            trouble = mail_trouble(s, now) if config.mail is not None else None
            raised = active_alarms(s)
    except DatabaseError:
        # A damaged ledger: no figures, but the door's state and its alarm still show, from the bus.
        log.exception("tableau mural : la base ne peut pas être lue")
        return {**status, "occupancy": None, "alarms": alarm_lines({}, door, now, kiosk)}
    labels = ChartLabels(
        title=_(
            "Demi-journées du mois : %(uses)d sur un objectif de %(target)d",
            uses=occupancy.month_uses,
            target=occupancy.target,
        ),
        target=_("objectif %(target)d", target=occupancy.target),
        total=str(occupancy.month_uses),
    )
    return {
        **status,
        "mail_trouble": mail_line(trouble, now, kiosk),
        "alarms": alarm_lines(raised, door, now, kiosk),
        "occupancy": occupancy,
        "chart": month_chart(
            occupancy.daily,
            occupancy.month_start,
            occupancy.today,
            occupancy.target,
            labels,
            daily_booked=occupancy.daily_booked,
        ),
        "place_label": place_label,
        "month_name": format_date(occupancy.month_start, "LLLL yyyy"),
    }


def render_panel(kiosk: Kiosk) -> str:
    return render_template("display/panel.html", **panel_context(kiosk))


@bp.get("/")
def wall() -> str:
    return render_template("display/index.html", panel=render_panel(current_kiosk()))


@bp.get("/panel")
def panel() -> str:
    return render_panel(current_kiosk())


@bp.get("/events")
def events() -> Response:
    """The panel, re-rendered on every piece of news, when the bus link drops or returns, and at least every
    `display_refresh_s`."""
    kiosk = current_kiosk()
    tuning = kiosk.tuning
    gone = browser_gone()
    try:
        subscription = kiosk.live.subscribe(request.remote_addr or "")
    except StreamsFull:
        return streams_full()
    news_queue = subscription.news

    def bus_up() -> bool:
        return kiosk.link is not None and kiosk.link.connected

    def stream() -> Iterator[str]:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        keepalive = Keepalive(tuning.sse_keepalive_s)
        # First thing on every (re)connection: the figures as the database has them now.
        shown_bus = bus_up()
        yield sse("panel", render_panel(kiosk))
        next_refresh = time.monotonic() + tuning.display_refresh_s
        for news in follow(kiosk.live, news_queue, tuning.stream_poll_s, gone):
            if news is not None and news.kind in PANEL_NEWS:
                _drain(news_queue)  # a burst (door state + tap) needs one rendering, not one per message
            elif bus_up() == shown_bus and time.monotonic() < next_refresh:
                if keepalive.due():
                    yield ": keepalive\n\n"
                continue
            shown_bus = bus_up()
            next_refresh = time.monotonic() + tuning.display_refresh_s
            keepalive.sent()
            yield sse("panel", render_panel(kiosk))

    return event_stream(stream(), subscription)


def _drain(news_queue: queue.Queue[News]) -> None:
    while True:
        try:
            news_queue.get_nowait()
        except queue.Empty:
            return
