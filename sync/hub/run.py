"""`halfday hub`: run the hub's workers, or its pages (`halfday hub web`), or bring its database to the newest schema
(`halfday hub migrate`), from its TOML config."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from pathlib import Path

from common.config import ConfigError
from common.daemons import daemon_parser, start_logging
from common.secrets import SecretFileError, read_private_file
from sync.hub.accounts import count_admins
from sync.hub.accounts_cli import add_account_parser, run_account_command
from sync.hub.config import HubSettings, load_hub_settings
from sync.hub.db import HubDatabase, HubSchemaError, SchemaState, SchemaStatus
from sync.hub.privacy_cli import add_privacy_parser, run_privacy_command
from sync.hub.worker import run_hub

DEFAULT_HUB_CONFIG = "/etc/halfday/hub.toml"


def main(argv: list[str]) -> int:
    """Entry point wired by `halfday.cli` (`halfday hub [--config PATH] [web [--host H] [--port N] | migrate]`)."""
    parser = daemon_parser(
        "halfday hub", "le hub du réseau", config_env="HALFDAY_HUB_CONFIG", default_config=DEFAULT_HUB_CONFIG
    )
    parser.add_argument("--workers", type=int, default=None, help="nombre de workers (remplace hub.workers)")
    sub = parser.add_subparsers(dest="what")
    web = sub.add_parser("web", help="les pages du hub")
    web.add_argument("--host", help="adresse d'écoute (remplace hub.web.host)")
    web.add_argument("--port", type=int, help="port (remplace hub.web.port)")
    add_account_parser(sub)
    add_privacy_parser(sub)
    migrate = sub.add_parser("migrate", help="mettre la base du hub au dernier schéma")
    migrate.add_argument(
        "--stamp",
        metavar="REVISION",
        help="d'abord marquer à cette révision une base créée avant les migrations du hub (après vérification)",
    )
    args = parser.parse_args(argv)
    start_logging(args.log_level)
    try:
        settings = load_hub_settings(args.config)
        if args.workers:
            settings = dataclasses.replace(settings, workers=args.workers)
        if args.what == "migrate":
            return _migrate(settings.database_url, args.stamp)
        if args.what == "account":
            return run_account_command(settings.database_url, args)
        if args.what == "privacy":
            return run_privacy_command(settings, args)
        problem = _prepare_database(settings.database_url)
        if problem is not None:
            print(f"halfday hub : {problem}", file=sys.stderr)
            return 1
        if args.what == "web":
            overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
            return _serve_web(dataclasses.replace(settings, web=dataclasses.replace(settings.web, **overrides)))
    except ConfigError as exc:
        print(f"halfday hub : {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_hub(settings, stop)
    return 0


def _prepare_database(url: str) -> str | None:
    """Make the schema of an empty database; None when the hub can run on the database, else why not, in French."""
    db = HubDatabase(url)
    try:
        db.create_all()
    except HubSchemaError as exc:
        return str(exc)
    finally:
        db.dispose()
    return None


def _migrate(url: str, stamp: str | None) -> int:
    """`halfday hub migrate`: the schema's revision before and after, or why the database cannot be migrated."""
    db = HubDatabase(url)
    try:
        if stamp is not None:
            db.stamp(stamp)
            print(f"Base du hub marquée au schéma {stamp} : ses tables et leurs colonnes y correspondent.")
        print(f"Schéma de la base du hub avant : {_describe(db.schema_state())}")
        after = db.migrate()
        print(f"Schéma de la base du hub après : {after} (le plus récent)")
    except HubSchemaError as exc:
        print(f"halfday hub migrate : {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


def _describe(state: SchemaState) -> str:
    if state.status is SchemaStatus.EMPTY:
        return "aucun (base vide)"
    if state.status is SchemaStatus.UNVERSIONED:
        return "aucun numéro (base créée avant les migrations du hub)"
    return f"{state.revision} (déjà le plus récent)" if state.status is SchemaStatus.CURRENT else str(state.revision)


def _serve_web(settings: HubSettings) -> int:
    import gc

    import waitress

    from sync.hub.web import create_hub_app

    web = settings.web
    if web.secret_key_file is None:
        raise ConfigError("hub.web.secret_key_file", "est obligatoire pour servir les pages du hub")
    try:
        secret = read_private_file(Path(web.secret_key_file))
    except SecretFileError as exc:
        print(f"halfday hub web : {exc}", file=sys.stderr)
        return 2
    db = HubDatabase(settings.database_url)
    with db.read() as session:
        if not count_admins(session):
            print(
                "halfday hub web : aucun administrateur du réseau ; créez le premier avec "
                "« halfday hub account add IDENTIFIANT --role network_admin »",
                file=sys.stderr,
            )
            return 1
    broker, installer = None, None
    if settings.broker_accounts is not None:
        from sync.hub.broker_accounts import BrokerAccounts
        from sync.hub.web import Installer
        from sync.signing import load_private_key, public_key_b64

        broker = BrokerAccounts(settings.broker_accounts)
        accounts = settings.broker_accounts
        ca_pem = Path(accounts.device_ca_file).read_text(encoding="ascii") if accounts.device_ca_file else None
        installer = Installer(accounts.device_url, public_key_b64(load_private_key(settings.private_key_file)), ca_pem)
    app = create_hub_app(
        db,
        secret_key=secret,
        trusted_hosts=web.hostnames,
        broker=broker,
        installer=installer,
        books=settings.books,
        privacy=settings.privacy,
        association=settings.association,
    )
    # What is alive now (the modules, the app) lives as long as the process: frozen out of the collector's reach, a
    # full collection walks only what requests leave behind. Unfrozen it walked ~117,000 such objects (65 ms on the
    # bench's machine) in whichever request set it off: the network's usage CSV, which sets one off every few
    # requests, had p95 185-191 ms unfrozen and 69-76 ms frozen (bench.hub). Collected first: no garbage frozen.
    gc.collect()
    gc.freeze()
    waitress.serve(app, host=web.host, port=web.port)
    return 0
