"""`halfday hub`: run the hub's workers, or its pages (`halfday hub web`), from its TOML config."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from pathlib import Path

from common.config import ConfigError
from common.daemons import daemon_parser, start_logging
from common.secrets import SecretFileError, read_private_file
from sync.hub.config import HubSettings, load_hub_settings
from sync.hub.worker import run_hub

DEFAULT_HUB_CONFIG = "/etc/halfday/hub.toml"


def main(argv: list[str]) -> int:
    """Entry point wired by `halfday.cli` (`halfday hub [--config PATH] [web [--host H] [--port N]]`)."""
    parser = daemon_parser(
        "halfday hub", "le hub du réseau", config_env="HALFDAY_HUB_CONFIG", default_config=DEFAULT_HUB_CONFIG
    )
    parser.add_argument("--workers", type=int, default=None, help="nombre de workers (remplace hub.workers)")
    sub = parser.add_subparsers(dest="what")
    web = sub.add_parser("web", help="les pages du hub")
    web.add_argument("--host", help="adresse d'écoute (remplace hub.web.host)")
    web.add_argument("--port", type=int, help="port (remplace hub.web.port)")
    args = parser.parse_args(argv)
    start_logging(args.log_level)
    try:
        settings = load_hub_settings(args.config)
        if args.workers:
            settings = dataclasses.replace(settings, workers=args.workers)
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


def _serve_web(settings: HubSettings) -> int:
    import waitress

    from sync.hub.db import HubDatabase
    from sync.hub.web import create_hub_app

    web = settings.web
    for key, path in (("secret_key_file", web.secret_key_file), ("password_hash_file", web.password_hash_file)):
        if path is None:
            raise ConfigError(f"hub.web.{key}", "est obligatoire pour servir les pages du hub")
    assert web.secret_key_file is not None and web.password_hash_file is not None
    try:
        secret = read_private_file(Path(web.secret_key_file))
        password_hash = read_private_file(Path(web.password_hash_file), min_bytes=1).decode()
    except SecretFileError as exc:
        print(f"halfday hub web : {exc}", file=sys.stderr)
        return 2
    db = HubDatabase(settings.database_url)
    db.create_all()
    app = create_hub_app(db, secret_key=secret, password_hash=password_hash)
    waitress.serve(app, host=web.host, port=web.port)
    return 0
