"""The hub's settings, from code (tests, benchmarks) or from its TOML file (`halfday hub --config`), read by the one
config reader (common/config.py): every key of `[hub]`, `[hub.broker]` and `[hub.web]` checked, unknown ones
refused, each problem named with its key in French."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import ConfigError, Table, load_toml, read_broker
from sync.hub.ingest import GAP_WAIT_S
from sync.hub.roster import ROSTER_BALANCE_INTERVAL_S
from sync.mqtt import RECONNECT_MIN_S, MqttSettings

__all__ = ["ConfigError", "HubSettings", "HubWeb", "load_hub_settings", "parse_hub_settings"]

# How often the keeper looks for network changes and queued commands: a revoked badge reaches the sites within it.
KEEPER_POLL_S = 0.25
# Messages handed from the MQTT thread to the database thread before the broker is made to wait.
QUEUE_SIZE = 64
HUB_BROKER_URL = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True)
class HubWeb:
    """The back office's pages: where they listen, and their two secrets (files only the hub's user reads)."""

    host: str = "127.0.0.1"
    port: int = 8090
    secret_key_file: str | None = None
    password_hash_file: str | None = None


@dataclass(frozen=True)
class HubSettings:
    database_url: str
    broker: MqttSettings
    private_key_file: str
    workers: int = 1
    web: HubWeb = field(default_factory=HubWeb)
    name: str = "halfday-hub"
    gap_wait_s: float = GAP_WAIT_S
    keeper_poll_s: float = KEEPER_POLL_S
    roster_balance_interval_s: float = ROSTER_BALANCE_INTERVAL_S
    queue_size: int = QUEUE_SIZE
    reconnect_min_s: int = RECONNECT_MIN_S


def load_hub_settings(path: str | Path) -> HubSettings:
    """Read and check the hub's TOML file; a bad value names its key."""
    return parse_hub_settings(load_toml(path))


def parse_hub_settings(data: dict[str, Any]) -> HubSettings:
    root = Table(data)
    hub = root.table("hub", required=True)
    url = hub.text("database_url")
    if not url.startswith(("sqlite:", "postgresql")):
        raise hub.fail("database_url", "doit commencer par sqlite:/// ou postgresql+psycopg://")
    private_key = hub.text("private_key")
    workers = hub.integer("workers", 1, low=1, high=64)
    broker_table = hub.table("broker")
    broker = read_broker(broker_table, HUB_BROKER_URL)
    broker_table.done()
    web_table = hub.table("web")
    web = HubWeb(
        host=web_table.text("host", HubWeb.host),
        port=web_table.integer("port", HubWeb.port, low=1, high=65535),
        secret_key_file=web_table.path_("secret_key_file", must_exist=True),
        password_hash_file=web_table.path_("password_hash_file", must_exist=True),
    )
    web_table.done()
    hub.done()
    root.done()
    try:
        mqtt = MqttSettings.from_config(broker)
    except (ValueError, OSError) as exc:
        raise ConfigError("hub.broker", str(exc)) from None
    return HubSettings(database_url=url, broker=mqtt, private_key_file=private_key, workers=workers, web=web)
