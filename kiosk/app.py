"""The kiosk's Flask app: the touchscreen (/), the wall display (/display) and the manager's admin (/admin), built
on the shared web toolkit (common/web/app.py) with the configuration injected and no module-level app."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from flask import Flask, Response
from flask_babel import format_currency
from sqlalchemy.exc import DatabaseError, OperationalError

from access.clock import kernel_synchronised
from access.config import Config
from access.db import Database
from access.store import TIME_FLOOR, get_meta
from common.web.app import WebSettings, error_page, make_app
from common.words import PaymentMethod
from kiosk.auth import secret_key
from kiosk.context import EXTENSION, Kiosk, Tuning, current_kiosk
from kiosk.doorlink import DoorLink
from kiosk.live import Live
from kiosk.payment import make_providers
from kiosk.tls import current_fingerprint, host_names
from kiosk.vouchers import voucher_book
from kiosk.words import alarm_label, not_recorded

log = logging.getLogger("halfday.kiosk")


def create_app(
    config: Config,
    *,
    db: Database | None = None,
    connect_bus: bool = True,
    tuning: Tuning | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    kernel_synced: Callable[[], bool] = kernel_synchronised,
    session_key: bytes | None = None,
) -> Flask:
    """Build the kiosk for `config`. `db`, `clock`, `kernel_synced` and `session_key` are injectable for tests;
    by default the database of the config, the system clock, the kernel's NTP status and the key file are used.
    With `connect_bus` the app subscribes to the local bus at once (and reconnects by itself)."""
    tuning = tuning or Tuning()
    live = Live(total=tuning.streams_total, per_client=tuning.streams_per_client)
    database = db if db is not None else Database(config.database_url)
    book = voucher_book(config) if PaymentMethod.VOUCHER in config.kiosk.payment else None
    link = DoorLink(config.bus, config.site.id, live) if connect_bus else None
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    kiosk = Kiosk(
        config=config,
        db=database,
        live=live,
        link=link,
        tuning=tuning,
        providers=make_providers(config.kiosk, book, lambda: now().astimezone(config.site.tz)),
        clock=now,
        kernel_synced=kernel_synced,
        owns_db=db is None,
        fingerprint=current_fingerprint(config),
    )
    try:
        with database.read() as s:
            floor = get_meta(s, TIME_FLOOR)
    except DatabaseError:
        # A damaged ledger: the kiosk still starts, so that the wall display shows the door's alarm.
        log.exception("la base ne peut pas être lue : la borne démarre sans ses chiffres")
        floor = None
    if floor:
        kiosk.guard.floor = dt.datetime.fromisoformat(floor)
    settings = WebSettings(
        secret_key=session_key if session_key is not None else secret_key(config),
        cookie_name="halfday_kiosk",
        language=config.kiosk.language,
        trusted_hosts=host_names(config),
    )
    app = make_app(__name__, settings, EXTENSION, kiosk)

    from kiosk.account import bp as account_bp
    from kiosk.admin import bp as admin_bp
    from kiosk.booking import bp as booking_bp
    from kiosk.display import bp as display_bp
    from kiosk.ical import bp as ical_bp
    from kiosk.receipts import bp as receipt_bp
    from kiosk.screen import bp as screen_bp

    app.register_blueprint(screen_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(booking_bp)
    app.register_blueprint(display_bp, url_prefix="/display")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(ical_bp, url_prefix="/rooms")
    app.register_blueprint(receipt_bp)

    # Where the site's network finds the admin and the wall display, under the first name the site gave.
    lan_url = f"https://{settings.trusted_hosts[0]}:{config.kiosk.lan_port}/" if settings.trusted_hosts else None

    @app.context_processor
    def kiosk_globals() -> dict[str, object]:
        kiosk = current_kiosk()
        return {
            "site": kiosk.config.site,
            "kiosk_config": kiosk.config.kiosk,
            "networked": kiosk.config.networked,
            "tuning": kiosk.tuning,
            "fingerprint": kiosk.fingerprint,
            "alarm_label": alarm_label,
            "lan_url": lan_url,
        }

    @app.errorhandler(OperationalError)
    def write_refused(error: OperationalError) -> Response:
        # A disk full or failing under any write (a booking, an admin change): the transaction was rolled back, and
        # the visitor is told so in words, not with a server error.
        log.error("écriture refusée par la base : %s", error.orig)
        return error_page(not_recorded(), 503)

    @app.template_filter("money")
    def money(cents: int) -> str:
        return str(format_currency(cents / 100, "EUR"))

    if link is not None:
        link.start()
    return app
