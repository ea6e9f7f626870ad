"""The `[alarms]` and `[homeassistant]` sections of the appliance's config: who is told of an alarm and when a
watched fact becomes one, and the site's own home automation broker."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.config import BrokerConfig, ConfigError, Table, read_broker
from common.records import EMAIL_PATTERN

# A backup runs nightly; two hours of slack before a missed one is an alarm.
BACKUP_MAX_AGE_H = 26.0
# Events that have waited this long for the hub mean the link has been down for half a working day.
BACKLOG_MAX_AGE_H = 4.0
# Under this share of free space on the ledger's disk, a few weeks of events and backups may fill it.
DISK_MIN_FREE_PERCENT = 10.0
# The languages of what the appliance tells people outside its pages: alarm e-mails, Home Assistant's names.
SITE_LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class AlarmsConfig:
    """Who is mailed when an alarm is raised, and the watched facts' thresholds."""

    # The site manager(s) told by e-mail (through the notices queue, so only with a [mail] section).
    mail_to: tuple[str, ...] = ()
    language: str = "fr"
    backlog_max_age_h: float = BACKLOG_MAX_AGE_H
    disk_min_free_percent: float = DISK_MIN_FREE_PERCENT
    # The disk watched (None: the ledger's own folder).
    disk_path: str | None = None
    backup_max_age_h: float = BACKUP_MAX_AGE_H
    # Backups are expected once `halfday backup` made its folder beside the ledger; with this, even before.
    expect_backups: bool = False


def read_alarms(table: Table, *, has_mail: bool) -> AlarmsConfig:
    mail_to = table.strings("mail_to", [])
    for address in mail_to:
        if not EMAIL_PATTERN.fullmatch(address):
            raise table.fail("mail_to", f"« {address} » n'est pas une adresse e-mail")
    if mail_to and not has_mail:
        raise table.fail("mail_to", "demande une section [mail] : sans serveur de messagerie, aucun e-mail ne part")
    alarms = AlarmsConfig(
        mail_to=mail_to,
        language=table.choice("language", "fr", SITE_LANGUAGES),
        backlog_max_age_h=table.number(
            "backlog_max_age_h", BACKLOG_MAX_AGE_H, low=0.01, high=24 * 30, unit="un nombre d'heures"
        ),
        disk_min_free_percent=table.number(
            "disk_min_free_percent", DISK_MIN_FREE_PERCENT, low=0, high=99, unit="un pourcentage"
        ),
        disk_path=table.path_("disk_path"),
        backup_max_age_h=table.number(
            "backup_max_age_h", BACKUP_MAX_AGE_H, low=0.01, high=24 * 60, unit="un nombre d'heures"
        ),
        expect_backups=table.flag("expect_backups", False),
    )
    table.done()
    return alarms


# ---------------------------------------------------------------------------------------------- [homeassistant]

DISCOVERY_PREFIX = "homeassistant"
# Home Assistant's node and object ids: letters, digits, underscore and hyphen.
NODE_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
TOPIC_PREFIX_PATTERN = r"[A-Za-z0-9_/-]{1,64}"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class HomeAssistantConfig:
    broker: BrokerConfig
    discovery_prefix: str = DISCOVERY_PREFIX
    node_id: str = "halfday"
    # Whether Home Assistant may open the door (a button entity). Off: no command topic is subscribed or advertised.
    allow_unlock: bool = False
    # The language of the entities' names in Home Assistant (the kiosk's, unless said).
    language: str = "fr"


def read_homeassistant(
    table: Table, bus: BrokerConfig, default_node: str, default_language: str = "fr"
) -> HomeAssistantConfig:
    broker = read_broker(table, None)
    if _same_broker(broker.url, bus.url):
        raise table.fail(
            "url",
            "désigne le bus local de halfday : Home Assistant doit avoir son propre courtier MQTT (celui de la "
            "maison ou du lieu), jamais le bus qui commande la porte",
        )
    prefix = table.text("discovery_prefix", DISCOVERY_PREFIX, pattern=TOPIC_PREFIX_PATTERN)
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise table.fail("discovery_prefix", "ne doit ni commencer ni finir par « / » (ex. homeassistant)")
    node = re.sub(r"[^A-Za-z0-9_-]", "_", default_node)[:64]
    config = HomeAssistantConfig(
        broker=broker,
        discovery_prefix=prefix,
        node_id=table.text("node_id", node, pattern=NODE_ID_PATTERN),
        allow_unlock=table.flag("allow_unlock", False),
        language=table.choice("language", default_language, SITE_LANGUAGES),
    )
    if config.allow_unlock and not broker.url.startswith("mqtts://") and not _loopback(broker.url):
        raise table.fail(
            "allow_unlock",
            "demande une adresse mqtts:// : en clair, le mot de passe du courtier traverse le réseau et quiconque "
            "l'entend pourrait ouvrir la porte",
        )
    table.done()
    return config


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("homeassistant.url", "porte un numéro de port invalide") from None
    default = 8883 if url.startswith("mqtts://") else 1883
    return (parts.hostname or "").lower(), port or default


def _loopback(url: str) -> bool:
    host = _host_port(url)[0]
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_broker(url: str, bus_url: str) -> bool:
    """Whether `url` reaches the local bus: the same host and port, a loopback name counting as the bus's own."""
    host, port = _host_port(url)
    bus_host, bus_port = _host_port(bus_url)
    if port != bus_port:
        return False
    return host == bus_host or (_loopback(url) and _loopback(bus_url))
