"""The hub's settings, from code (tests, benchmarks) or from its TOML file (`halfday hub --config`), read by the one
config reader (common/config.py): every key of `[hub]`, `[hub.broker]`, `[hub.web]` and `[hub.broker_accounts]`
checked, unknown ones refused, each problem named with its key in French."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.books import Books, read_books
from common.config import Association, ConfigError, Table, load_toml, read_association, read_broker
from common.privacy import PrivacyConfig, read_privacy
from sync.hub.broker_accounts import ANSWER_TIMEOUT_S, BrokerAccountsSettings
from sync.hub.ingest import GAP_WAIT_S
from sync.hub.roster import ROSTER_BALANCE_INTERVAL_S
from sync.mqtt import RECONNECT_MIN_S, MqttSettings

__all__ = ["ConfigError", "HubSettings", "HubWeb", "load_hub_settings", "parse_hub_settings"]

# How often the keeper looks for network changes and queued commands: a revoked badge reaches the sites within it.
# Its idle look is one indexed read (of the touches waiting), so a tenth of a second costs the database little.
KEEPER_POLL_S = 0.1
# Messages handed from the MQTT thread to the database thread before the broker is made to wait.
QUEUE_SIZE = 64
HUB_BROKER_URL = "mqtt://127.0.0.1:1883"
# How often the keeper's worker applies the retention of personal data (PRIVACY.md): once a day is what the rules
# ask; the first run comes a minute after start, so a hub restarted daily still runs it.
PRIVACY_INTERVAL_S = 24 * 3600.0
PRIVACY_FIRST_S = 60.0


@dataclass(frozen=True)
class HubWeb:
    """The back office's pages: where they listen, their session secret (a file only the hub's user reads), the
    names they answer to. Managers sign in with their own accounts, kept in the database."""

    host: str = "127.0.0.1"
    port: int = 8090
    secret_key_file: str | None = None
    # Host names the pages answer to besides IP addresses (the reverse proxy's name); empty: any.
    hostnames: tuple[str, ...] | None = None


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
    # None: the hub does not manage its broker's accounts (a broker it does not run, or accounts made by hand).
    broker_accounts: BrokerAccountsSettings | None = None
    # Who the network's reports are from (`[association]`: the association that runs the network).
    association: Association = field(default_factory=lambda: Association("halfday"))
    # The network's journal (`[books]`: accounts and VAT; each device numbers its own receipts).
    books: Books = field(default_factory=lambda: Books("HUB"))
    # How long personal data is kept, and whom people ask about theirs (`[privacy]`, as on the appliances).
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    privacy_interval_s: float = PRIVACY_INTERVAL_S
    privacy_first_s: float = PRIVACY_FIRST_S


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
        hostnames=web_table.strings("hostnames", []) or None,
    )
    web_table.done()
    accounts_table = hub.section("broker_accounts")
    accounts = None if accounts_table is None else _broker_accounts(accounts_table, broker.url)
    hub.done()
    association = read_association(root.table("association"), "halfday")
    books = read_books(root.table("books"), "HUB")
    privacy = read_privacy(root.table("privacy"))
    root.done()
    try:
        mqtt = MqttSettings.from_config(broker)
    except (ValueError, OSError) as exc:
        raise ConfigError("hub.broker", str(exc)) from None
    return HubSettings(
        database_url=url,
        broker=mqtt,
        private_key_file=private_key,
        workers=workers,
        web=web,
        broker_accounts=accounts,
        association=association,
        books=books,
        privacy=privacy,
    )


def _broker_accounts(table: Table, hub_broker_url: str) -> BrokerAccountsSettings:
    """[hub.broker_accounts]: the admin account of the broker the hub runs (by default the one its workers use),
    and the address the Pis reach it at."""
    broker = read_broker(table, hub_broker_url)
    init = "(python -m sync.hub.broker_accounts init les crée)"
    if broker.username is None:
        raise table.fail("username", f"est obligatoire : le compte d'administration du broker {init}")
    if broker.password_file is None:
        raise table.fail("password_file", f"est obligatoire : le mot de passe de ce compte {init}")
    if not Path(broker.password_file).is_file():
        raise table.fail("password_file", f"désigne un fichier absent : {broker.password_file} {init}")
    device_url = table.text("device_url")
    if not re.fullmatch(r"mqtts://[^/:@\s]+(:\d{1,5})?", device_url):
        raise table.fail("device_url", "doit être de la forme mqtts://hôte:8883 (les Pis ne joignent le hub qu'en TLS)")
    device_ca_file = table.path_("device_ca_file", must_exist=True)
    timeout = table.seconds("answer_timeout_s", ANSWER_TIMEOUT_S, low=0.1, high=60.0)
    table.done()
    return BrokerAccountsSettings(broker, device_url, device_ca_file, timeout)
