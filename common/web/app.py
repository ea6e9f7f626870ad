"""The app factory both web apps start from: configuration injected, no module-level app, and the same defaults
for everything that protects a page (CSRF, security headers, trusted hosts, safe redirects, error pages).

An app is `make_app(...)` plus its context object (found again with `context(app_key)`) and its blueprints.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as BaseResponse

from common.config import IPNetwork
from common.i18n import LANGUAGES, _, current_language, init_i18n
from common.web.csrf import csrf_token, csrf_valid
from common.web.login import signed_in

# Every page and its assets come from the app itself: it must work with the internet down, and nothing on a
# page may be loaded or posted elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Methods that change something: each needs the session's CSRF token.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

T = TypeVar("T")


@dataclass(frozen=True)
class WebSettings:
    """What differs from one app to the other."""

    secret_key: bytes | str
    cookie_name: str
    language: str = "fr"
    # Host names the app answers to, besides IP addresses (a DNS-rebinding page names another); None: any, for a
    # test client.
    trusted_hosts: tuple[str, ...] | None = None
    # Forms only: names, e-mails, codes.
    max_content_length: int = 64 * 1024
    # The template that shows a refusal or an error, given `message`.
    error_template: str = "error.html"
    extra: Mapping[str, Any] = field(default_factory=dict)


def make_app(import_name: str, settings: WebSettings, context_key: str, context: object) -> Flask:
    """A Flask app for the package `import_name` (its templates/ and static/), with `context` as its extension."""
    if not settings.secret_key:
        raise ValueError("SECRET_KEY est obligatoire : une clé de session vient d'un fichier secret, jamais du code")
    app = Flask(import_name)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=settings.cookie_name,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=settings.max_content_length,
        TEMPLATES_AUTO_RELOAD=False,
        HALFDAY_TRUSTED_HOSTS=(
            frozenset(h.lower() for h in settings.trusted_hosts) if settings.trusted_hosts is not None else None
        ),
        HALFDAY_ERROR_TEMPLATE=settings.error_template,
    )
    app.config.update(settings.extra)
    init_i18n(app, settings.language)
    app.extensions[context_key] = context
    # Templates both apps print (the funders' report's figures): common/web/templates/common/.
    app.register_blueprint(Blueprint("shared", __name__, template_folder="templates"))
    app.session_interface = SessionCookies()
    _install_hooks(app)
    return app


def context(key: str, kind: type[T]) -> T:
    """The context object of the app handling this request."""
    found = current_app.extensions[key]
    if not isinstance(found, kind):
        raise TypeError(f"{key} is a {type(found).__name__}, not a {kind.__name__}")
    return found


def error_page(message: str, status: int) -> Response:
    """A page that says what went wrong in plain words, with the right status."""
    template = current_app.config["HALFDAY_ERROR_TEMPLATE"]
    return Response(render_template(template, message=message), status=status, mimetype="text/html")


def local_target(target: str | None, default: str = "/", prefix: str = "/") -> str:
    """`target` if it is a path on this app under `prefix`, else `default`: a redirect never leaves the app."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(prefix) or target.startswith("//") or "\\" in target:
        return default
    return target


def host_trusted(host: str, names: frozenset[str] | None) -> bool:
    """Whether a request's Host header (name or address, with or without a port) is one the app answers to.

    An IP address is always answered: a page can only reach it under that address, so it is no rebinding. A name
    must be one of `names`: a page of another site whose name was made to resolve here gets nothing."""
    if names is None:
        return True
    host = host.strip().lower()
    if host.startswith("["):  # [IPv6]:port
        name = host[1:].partition("]")[0]
    else:
        name = host.partition(":")[0]
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name.rstrip(".") in names
    return True


def from_addresses(address: str | None, networks: Iterable[IPNetwork]) -> bool:
    """Whether a request's remote address is in one of `networks` (an IPv4 client of a dual-stack socket comes as
    ::ffff:a.b.c.d and counts as a.b.c.d)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class SessionCookies(SecureCookieSessionInterface):
    """Session cookies marked Secure whenever the page came over HTTPS, so a browser never sends a signed-in
    session over the plain listener (the touchscreen's, on loopback, keeps working without TLS)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def check_request() -> Response | None:
        if not host_trusted(request.headers.get("Host", ""), app.config["HALFDAY_TRUSTED_HOSTS"]):
            # A host name the app does not answer to (a DNS-rebinding page): nothing else runs, not even a guard.
            return Response(_("Nom d'hôte non autorisé."), status=400, mimetype="text/plain")
        g.started = time.perf_counter()
        if request.method in UNSAFE_METHODS and not csrf_valid():
            message = _("Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page et recommencez.")
            return error_page(message, 400)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            # The benchmarks read the server's own time per page from here (and browsers' devtools show it).
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def template_globals() -> dict[str, object]:
        return {
            "csrf_token": csrf_token,
            "lang": current_language(),
            "languages": LANGUAGES,
            "signed_in": signed_in(),
        }

    @app.route("/lang/<code>")
    def set_language(code: str) -> BaseResponse:
        if code in LANGUAGES:
            session["lang"] = code
        return redirect(local_target(request.args.get("next")))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        messages: dict[int, Callable[[], str]] = {
            404: lambda: _("Cette page n'existe pas."),
            405: lambda: _("Cette action n'est pas possible ici."),
            413: lambda: _("Ce formulaire est trop long."),
        }
        status = error.code or 500
        words = messages.get(status)
        # A description given on purpose (abort(400, "...")) is already in the visitor's words; werkzeug's own
        # default is English, so it is not shown.
        said = error.description if error.description != type(error).description else None
        if words is not None:
            message = words()
        elif said and status < 500:
            message = str(said)
        elif status < 500:
            message = _("Cette demande n'a pas pu être comprise. Rechargez la page et recommencez.")
        else:
            message = _("Une erreur est survenue.")
        return error_page(message, status)


def pdf_download(filename: str, body: bytes) -> Response:
    """A PDF file to download (body from common.pdf.Document)."""
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_download(filename: str, body: str) -> Response:
    """A CSV file to download (body from common.tables.csv_file)."""
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
