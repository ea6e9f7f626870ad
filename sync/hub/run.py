"""`halfday hub`: run the hub's workers, or its pages (`halfday hub web`), from a TOML config."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from sync.hub.config import HubConfigError, load_hub_settings
from sync.hub.worker import run_hub

DEFAULT_HUB_CONFIG = "/etc/halfday/hub.toml"


def main(argv: list[str]) -> int:
    """Entry point wired by `halfday.cli` (`halfday hub [--config PATH] [web --port N]`)."""
    parser = argparse.ArgumentParser(prog="halfday hub", description="le hub du réseau")
    parser.add_argument("--config", default=os.environ.get("HALFDAY_HUB_CONFIG", DEFAULT_HUB_CONFIG))
    parser.add_argument("--log-level", default=os.environ.get("HALFDAY_LOG_LEVEL", "INFO"))
    parser.add_argument("--workers", type=int, default=None, help="nombre de workers (remplace hub.workers)")
    sub = parser.add_subparsers(dest="what")
    web = sub.add_parser("web", help="les pages du hub")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = load_hub_settings(args.config)
    except HubConfigError as exc:
        print(f"halfday hub : {exc}")
        return 2
    if args.workers:
        from dataclasses import replace

        settings = replace(settings, workers=args.workers)
    if args.what == "web":
        return _serve_web(args.config, settings.database_url, args.host, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_hub(settings, stop)
    return 0


def _serve_web(config_path: str, database_url: str, host: str, port: int) -> int:
    import tomllib
    from pathlib import Path

    import waitress

    from sync.hub.db import HubDatabase
    from sync.hub.web import create_hub_app

    web = tomllib.loads(Path(config_path).read_text(encoding="utf-8")).get("hub", {}).get("web", {})
    try:
        secret = Path(web["secret_key_file"]).read_text().strip()
        password_hash = Path(web["password_hash_file"]).read_text().strip()
    except (KeyError, OSError) as exc:
        print(f"halfday hub web : hub.web.secret_key_file et hub.web.password_hash_file sont obligatoires ({exc})")
        return 2
    db = HubDatabase(database_url)
    db.create_all()
    app = create_hub_app(db, {"SECRET_KEY": secret, "HUB_PASSWORD_HASH": password_hash})
    waitress.serve(app, host=host, port=port)
    return 0
