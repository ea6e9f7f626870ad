"""How halfday's daemons start: the same two options (`--config`, `--log-level`) and one log format."""

from __future__ import annotations

import argparse
import logging
import os

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
SITE_CONFIG = "/etc/halfday/halfday.toml"


def daemon_parser(
    prog: str, description: str, *, config_env: str = "HALFDAY_CONFIG", default_config: str = SITE_CONFIG
) -> argparse.ArgumentParser:
    """A parser with the options every daemon takes; the caller adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--config",
        default=os.environ.get(config_env, default_config),
        help=f"fichier de configuration (défaut : ${config_env} ou {default_config})",
    )
    parser.add_argument("--log-level", default=os.environ.get("HALFDAY_LOG_LEVEL", "INFO"), help="niveau du journal")
    return parser


def start_logging(level: str | int, *, fmt: str = LOG_FORMAT) -> None:
    """Log to standard error (journald keeps it under systemd), in one format for every daemon."""
    logging.basicConfig(level=level, format=fmt)
