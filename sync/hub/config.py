"""The hub's settings, from code (tests, benchmarks) or from a TOML file (`halfday hub --config`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.hub.ingest import GAP_WAIT_S
from sync.hub.roster import ROSTER_BALANCE_INTERVAL_S
from sync.mqtt import RECONNECT_MIN_S, MqttSettings

# How often the keeper looks for network changes and queued commands: a revoked badge reaches the sites within it.
KEEPER_POLL_S = 0.25
# Messages handed from the MQTT thread to the database thread before the broker is made to wait.
QUEUE_SIZE = 64


@dataclass(frozen=True)
class HubSettings:
    database_url: str
    broker: MqttSettings
    private_key_file: str
    workers: int = 1
    name: str = "halfday-hub"
    gap_wait_s: float = GAP_WAIT_S
    keeper_poll_s: float = KEEPER_POLL_S
    roster_balance_interval_s: float = ROSTER_BALANCE_INTERVAL_S
    queue_size: int = QUEUE_SIZE
    reconnect_min_s: int = RECONNECT_MIN_S


class HubConfigError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key = key
        self.problem = problem


def load_hub_settings(path: str | Path) -> HubSettings:
    """Read `[hub]` and `[hub.broker]` from a TOML file; a bad value names its key."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HubConfigError(str(path), f"ne peut pas être lu : {exc}") from None
    return parse_hub_settings(data)


def parse_hub_settings(data: dict[str, Any]) -> HubSettings:
    hub = data.get("hub")
    if not isinstance(hub, dict):
        raise HubConfigError("hub", "est une section obligatoire")
    broker = hub.get("broker", {})
    if not isinstance(broker, dict):
        raise HubConfigError("hub.broker", "doit être une section")

    def text(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise HubConfigError(f"{where}.{key}", "doit être un texte non vide")
        return value

    url = text(hub, "database_url", "hub")
    if not url.startswith(("sqlite:", "postgresql")):
        raise HubConfigError("hub.database_url", "doit commencer par sqlite:/// ou postgresql+psycopg://")
    workers = hub.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise HubConfigError("hub.workers", "doit être un entier de 1 à 64")
    try:
        mqtt = MqttSettings.from_url(
            text(broker, "url", "hub.broker", "mqtt://127.0.0.1:1883"),
            username=broker.get("username"),
            password_file=broker.get("password_file"),
            ca_file=broker.get("ca_file"),
            cert_file=broker.get("cert_file"),
            key_file=broker.get("key_file"),
        )
    except (ValueError, OSError) as exc:
        raise HubConfigError("hub.broker", str(exc)) from None
    return HubSettings(
        database_url=url,
        broker=mqtt,
        private_key_file=text(hub, "private_key", "hub"),
        workers=workers,
    )
