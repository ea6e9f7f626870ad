"""`halfday kiosk`: serve the kiosk, to the touchscreen with waitress on loopback and to the site's network over
HTTPS with cheroot; `halfday kiosk password` sets the manager's password; `halfday kiosk certificate` makes the
HTTPS certificate and shows its fingerprint; `halfday kiosk vouchers --count N` mints prepaid vouchers to print."""

from __future__ import annotations

import getpass
import logging
import signal
import ssl
import sys
import threading
from typing import Any, TextIO

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server as CherootServer
from flask import Flask
from sqlalchemy.exc import DatabaseError
from waitress.server import create_server

from access.config import Config, ConfigError, load_config
from access.db import Database, current_revision, head_revision
from common.daemons import daemon_parser, start_logging
from common.db import is_corruption
from common.words import PlanKind
from kiosk.app import create_app
from kiosk.auth import KioskSetupError, set_password
from kiosk.context import EXTENSION, Kiosk
from kiosk.tls import CertificateFiles, ensure_certificate, fingerprint
from kiosk.vouchers import ROOM_HALFDAY, allocate_serials, voucher_book

# One thread per open event stream (touchscreen, wall displays, an admin tab) plus page requests: 16 leaves room
# for a few displays and still answers the touchscreen at once. Threads mostly wait, so they cost little.
THREADS = 16
# A channel silent this long is closed; event streams send a keep-alive well within it.
CHANNEL_TIMEOUT_S = 120
# Waitress keeps reading a connection while its request runs, so an event stream learns at once that its browser
# left (environ["waitress.client_disconnected"]); browsers do not pipeline, so a small number is plenty.
REQUEST_LOOKAHEAD = 4
# How long stopping waits for the request threads (event streams end at once when told).
STOP_TIMEOUT_S = 5
MAX_VOUCHERS = 10_000
VOUCHER_KINDS = {
    "halfday": PlanKind.PASS_HALFDAY,
    "day": PlanKind.PASS_DAY,
    "week": PlanKind.PASS_WEEK,
    "month": PlanKind.PASS_MONTH,
    "room": ROOM_HALFDAY,
}
VOUCHER_WORDS: dict[str, str] = {
    PlanKind.PASS_HALFDAY: "demi-journée",
    PlanKind.PASS_DAY: "journée",
    PlanKind.PASS_WEEK: "semaine",
    PlanKind.PASS_MONTH: "mois",
    ROOM_HALFDAY: "demi-journée de salle",
}

log = logging.getLogger("halfday.kiosk")


class KioskServer:
    """The kiosk app served by waitress on host:port (0: a free port), in a background thread or the caller's."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0, threads: int = THREADS) -> None:
        self.app = app
        self.server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            channel_timeout=CHANNEL_TIMEOUT_S,
            channel_request_lookahead=REQUEST_LOOKAHEAD,
            ident="halfday-kiosk",
            clear_untrusted_proxy_headers=True,
        )
        self.host = host
        self.port: int = self.server.effective_port
        self._thread: threading.Thread | None = None
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def kiosk(self) -> Kiosk:
        kiosk: Kiosk = self.app.extensions[EXTENSION]
        return kiosk

    def start(self) -> KioskServer:
        self._thread = threading.Thread(target=self.server.run, name="halfday-kiosk-http", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        """End the event streams, stop the bus link and the request threads, close every connection."""
        self.stopped = True
        self.kiosk.close()
        self.server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT_S)
        if self._thread is not None and self._thread.is_alive():
            # Closed from inside the server's own loop, which then finds nothing left to watch and returns: closing
            # sockets under a loop that is polling them would make it fail on a dead descriptor.
            try:
                self.server.trigger.pull_trigger(self._close_all)
            except OSError:
                # The loop is ending on its own and has closed its trigger already: close what it leaves, after it.
                self._thread.join(STOP_TIMEOUT_S)
                self._close_all()
            else:
                self._thread.join(STOP_TIMEOUT_S)
        else:
            self._close_all()

    def _close_all(self) -> None:
        for dispatcher in list(self.server._map.values()):
            dispatcher.close()


class _Cheroot(CherootServer):
    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        # A browser that has not yet accepted the self-signed certificate drops every handshake: cheroot would
        # print each to stderr. Only its errors deserve the journal.
        log.log(logging.WARNING if level >= logging.ERROR else logging.DEBUG, "https : %s", msg, exc_info=traceback)


class LanServer:
    """The same app for the site's network, over HTTPS only (waitress speaks no TLS; cheroot does, in the same
    thread-per-request way). The touchscreen's pages refuse these clients (kiosk/screen.py): what they get is the
    admin and the wall display, with session cookies marked Secure."""

    def __init__(self, app: Flask, host: str, port: int, files: CertificateFiles, threads: int = THREADS) -> None:
        self.server = _Cheroot((host, port), app, numthreads=threads, server_name="halfday-kiosk")
        adapter = BuiltinSSLAdapter(str(files.certificate), str(files.key))
        adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server.ssl_adapter = adapter
        self.server.prepare()  # binds now: a taken port fails here, before the kiosk says it is ready
        self.host = host
        self.port: int = self.server.bind_addr[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> LanServer:
        self._thread = threading.Thread(target=self.server.serve, name="halfday-kiosk-https", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end the request threads (the kiosk's streams were told to end before)."""
        self.server.stop()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)


def check_schema(config: Config) -> None:
    """The kiosk does not migrate (the door and `halfday migrate` do): refuse a database at another schema. A
    damaged one is not refused: the kiosk then serves what needs no database, and the wall display shows the door's
    alarm (restarting in a loop would show nothing)."""
    try:
        revision = current_revision(config.database_url)
    except DatabaseError as exc:
        if not is_corruption(exc):
            raise
        log.critical("BASE DE DONNÉES ILLISIBLE (%s) : la borne sert sans ses chiffres ; halfday restore", exc)
        return
    if revision != head_revision():
        raise KioskSetupError("la base n'est pas au dernier schéma : lancez « halfday migrate »")


def read_new_password(stdin: TextIO) -> str:
    """The new password: one line from a pipe, or typed twice at a terminal (not echoed)."""
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Nouveau mot de passe de l'accueil : ")
    if getpass.getpass("Le même, une seconde fois : ") != first:
        raise KioskSetupError("les deux saisies diffèrent : rien n'a changé")
    return first


def cmd_password(config: Config, stdin: TextIO) -> int:
    password = read_new_password(stdin)
    database = Database(config.database_url)
    try:
        with database.write() as session:
            set_password(session, password)
    except ValueError as exc:
        raise KioskSetupError(str(exc)) from None
    finally:
        database.dispose()
    print("Mot de passe de l'accueil enregistré.")
    return 0


def cmd_vouchers(config: Config, count: int, kind: str) -> int:
    if not 1 <= count <= MAX_VOUCHERS:
        raise KioskSetupError(f"--count : entre 1 et {MAX_VOUCHERS}")
    book = voucher_book(config)
    database = Database(config.database_url)
    try:
        with database.write() as session:
            serials = allocate_serials(session, count)
    except ValueError as exc:
        raise KioskSetupError(str(exc)) from None
    finally:
        database.dispose()
    pass_kind = VOUCHER_KINDS[kind]
    for serial in serials:
        voucher = book.mint(pass_kind, serial)
        print(f"{voucher.printed}  {config.site.name} · bon {VOUCHER_WORDS[pass_kind]} n° {serial}")
    return 0


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_certificate(config: Config, renew: bool) -> int:
    files = ensure_certificate(config, renew=renew)
    print(f"Certificat de la borne : {files.certificate}")
    print(f"Empreinte SHA-256 : {fingerprint(files.certificate.read_bytes())}")
    return 0


def serve(config: Config) -> int:
    # The certificate first: the app shows its fingerprint.
    files = ensure_certificate(config) if config.kiosk.lan_host else None
    app = create_app(config)
    server = KioskServer(app, config.kiosk.host, config.kiosk.port)
    lan = LanServer(app, config.kiosk.lan_host, config.kiosk.lan_port, files).start() if files else None
    # SIGTERM from systemd ends the loop like Ctrl-C does, so the streams and the bus link close cleanly.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.info("borne prête sur %s", server.url)
    if lan is not None:
        log.info("accueil et tableau pour le réseau du lieu sur %s (empreinte %s)", lan.url, server.kiosk.fingerprint)
    try:
        server.run()
    finally:
        server.stop()  # ends the streams of both listeners
        if lan is not None:
            lan.stop()
    return 0


def main(argv: list[str]) -> int:
    """Entry point of `halfday kiosk ...` (argv starts after "kiosk")."""
    parser = daemon_parser("halfday kiosk", "la borne, le tableau mural et l'accueil")
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE")
    sub.add_parser("serve", help="servir la borne (par défaut)")
    sub.add_parser("password", help="définir le mot de passe de l'accueil (lu sur l'entrée standard ou demandé)")
    p = sub.add_parser("certificate", help="créer le certificat HTTPS s'il manque, montrer son empreinte")
    p.add_argument("--renew", action="store_true", help="en créer un nouveau (les navigateurs avertiront à nouveau)")
    p = sub.add_parser("vouchers", help="créer des bons prépayés à imprimer")
    p.add_argument("--count", type=int, required=True, help="nombre de bons")
    p.add_argument(
        "--kind",
        choices=tuple(VOUCHER_KINDS),
        default="halfday",
        help="ce que le bon achète (room : une demi-journée de salle ou de bureau)",
    )
    args = parser.parse_args(argv)
    start_logging(args.log_level)
    try:
        config = load_config(args.config)
        check_schema(config)
        if args.command == "password":
            return cmd_password(config, sys.stdin)
        if args.command == "certificate":
            return cmd_certificate(config, args.renew)
        if args.command == "vouchers":
            return cmd_vouchers(config, args.count, args.kind)
        return serve(config)
    except (ConfigError, KioskSetupError, OSError) as exc:
        print(f"halfday kiosk : {exc}", file=sys.stderr)
        return 1
