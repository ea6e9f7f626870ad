"""The kiosk's Flask app factory: the touchscreen (/), the wall display (/display) and the manager's admin
(/admin), with the configuration injected and no module-level app."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, g, redirect, render_template, request, session
from flask_babel import format_currency
from werkzeug.wrappers.response import Response as BaseResponse

from access.clock import kernel_synchronised
from access.config import Config
from access.db import Database
from access.store import get_meta
from kiosk.context import EXTENSION, Kiosk, Tuning, current_kiosk
from kiosk.doorlink import DoorLink
from kiosk.i18n import LANGUAGES, _, current_language, init_i18n
from kiosk.live import Live
from kiosk.payment import make_providers
from kiosk.security import csrf_token, csrf_valid, secret_key
from kiosk.vouchers import voucher_book

# Every page and its assets come from the kiosk itself: it must work with the internet down, and nothing on
# a page may be loaded or posted elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


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
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_key if session_key is not None else secret_key(config),
        SESSION_COOKIE_NAME="halfday_kiosk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only: names, e-mails, codes
        TEMPLATES_AUTO_RELOAD=False,
    )
    init_i18n(app, config.kiosk.language)
    live = Live()
    database = db if db is not None else Database(config.database_url)
    book = voucher_book(config) if "voucher" in config.kiosk.payment else None
    link = DoorLink(config.bus, config.site.id, live) if connect_bus else None
    kiosk = Kiosk(
        config=config,
        db=database,
        live=live,
        link=link,
        tuning=tuning or Tuning(),
        providers=make_providers(config.kiosk.payment, book),
        clock=clock or (lambda: dt.datetime.now(dt.UTC)),
        kernel_synced=kernel_synced,
        owns_db=db is None,
    )
    with database.read() as s:
        floor = get_meta(s, "time_floor")
    if floor:
        kiosk.guard.floor = dt.datetime.fromisoformat(floor)
    app.extensions[EXTENSION] = kiosk

    from kiosk.admin import bp as admin_bp
    from kiosk.display import bp as display_bp
    from kiosk.screen import bp as screen_bp

    app.register_blueprint(screen_bp)
    app.register_blueprint(display_bp, url_prefix="/display")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    _install_hooks(app)
    if link is not None:
        link.start()
    return app


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def start_timer() -> BaseResponse | None:
        g.started = time.perf_counter()
        if request.method == "POST" and not csrf_valid():
            message = _("Ce formulaire a expiré ou ne vient pas de cette borne. Rechargez la page et recommencez.")
            return Response(render_template("error.html", message=message), status=400)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            # The benchmark reads the server's own time per page from here (and browsers' devtools show it).
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def template_globals() -> dict[str, object]:
        kiosk = current_kiosk()
        return {
            "csrf_token": csrf_token,
            "lang": current_language(),
            "languages": LANGUAGES,
            "site": kiosk.config.site,
            "kiosk_config": kiosk.config.kiosk,
            "networked": kiosk.config.networked,
            "tuning": kiosk.tuning,
        }

    @app.template_filter("money")
    def money(cents: int) -> str:
        return str(format_currency(cents / 100, "EUR"))

    @app.route("/lang/<code>")
    def set_language(code: str) -> BaseResponse:
        if code in LANGUAGES:
            session["lang"] = code
        return redirect(_local_target(request.args.get("next")))

    @app.errorhandler(404)
    def not_found(_error: Exception) -> tuple[str, int]:
        return render_template("error.html", message=_("Cette page n'existe pas.")), 404


def _local_target(target: str | None) -> str:
    """Only a path on this kiosk: a language switch must not become an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
