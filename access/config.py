"""The appliance's one TOML configuration, loaded and validated once at start.

A bad file gives one `ConfigError` naming the key and the problem; nothing starts half-configured.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.config import ConfigError, Table, parse_hhmm

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]

SITE_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"


@dataclass(frozen=True)
class Slots:
    """The half-day slots of the site, in local time: morning [morning_start, noon), afternoon [noon, end)."""

    morning_start: dt.time = dt.time(8, 0)
    noon: dt.time = dt.time(13, 0)
    afternoon_end: dt.time = dt.time(20, 0)


@dataclass(frozen=True)
class SiteConfig:
    id: str
    name: str
    timezone: str
    device: str
    capacity: int
    monthly_target: int
    slots: Slots

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class BrokerConfig:
    """An MQTT broker: the local bus on the appliance, or the hub's broker."""

    url: str
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class HubConfig:
    broker: BrokerConfig
    public_key: str  # base64 Ed25519 public key that signs rosters and commands


@dataclass(frozen=True)
class DoorConfig:
    unlock_s: float = 5.0
    held_open_s: float = 60.0
    # When the clock cannot be trusted: who may still come in.
    clock_unsure: str = "members"
    # Treat the wall clock as right even when the kernel says it is not synchronised (the demo, a site whose
    # clock is kept by other means). Off by default: a Pi without RTC may boot with a wrong date.
    trust_clock: bool = False
    # Local hours when the door stays open for everyone because staff is present (empty: never).
    staffed: tuple[tuple[int, dt.time, dt.time], ...] = ()


@dataclass(frozen=True)
class KioskConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    language: str = "fr"
    show_names: bool = True
    price_halfday_cents: int = 800
    price_day_cents: int = 1400
    payment: tuple[str, ...] = ("counter", "voucher")
    voucher_key_file: str | None = None  # default: voucher.key next to the database
    secret_key_file: str | None = None


@dataclass(frozen=True)
class Config:
    site: SiteConfig
    database_url: str
    bus: BrokerConfig
    hub: HubConfig | None
    door: DoorConfig
    kiosk: KioskConfig
    hardware: Any  # hardware.config.HardwareConfig; typed loosely so access/ does not import device code
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def networked(self) -> bool:
        return self.hub is not None


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "n'existe pas (lancez « halfday init » pour le créer)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"ne peut pas être lu : {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"n'est pas un TOML valide : {exc}") from None
    return parse_config(data, path=path)


def parse_config(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    root = Table(data, "")
    site = _site(root.table("site", required=True), root.table("slots"))
    database = root.table("database", required=True)
    database_url = database.text("url")
    if not database_url.startswith(("sqlite:", "postgresql")):
        raise ConfigError("database.url", "doit commencer par sqlite:/// (ou postgresql:// pour le hub)")
    database.done()
    bus = _bus_identity(_broker(root.table("bus"), "mqtt://127.0.0.1:1883"))
    hub = None
    if root.has("hub"):
        hub_table = root.table("hub")
        public_key = hub_table.text("public_key")
        hub = HubConfig(broker=_broker(hub_table, None, done=False), public_key=public_key)
        hub_table.done()
    door = _door(root.table("door"))
    kiosk = _kiosk(root.table("kiosk"))
    hardware = _hardware(root.raw("hardware"))
    root.done()
    return Config(site, database_url, bus, hub, door, kiosk, hardware, path)


def _site(table: Table, slots_table: Table) -> SiteConfig:
    site_id = table.text("id", pattern=SITE_ID_PATTERN)
    name = table.text("name")
    timezone = table.text("timezone", "Europe/Paris")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(table.key("timezone"), "n'est pas un fuseau horaire connu (ex. Europe/Paris)") from None
    device = table.text("device", "door-1", pattern=SITE_ID_PATTERN)
    capacity = table.integer("capacity", 20, low=1, high=10_000)
    target = table.integer("monthly_target", 200, low=0, high=1_000_000)
    table.done()
    slots = Slots(
        morning_start=slots_table.clock_time("morning_start", "08:00"),
        noon=slots_table.clock_time("noon", "13:00"),
        afternoon_end=slots_table.clock_time("afternoon_end", "20:00"),
    )
    if not slots.morning_start < slots.noon < slots.afternoon_end:
        raise ConfigError("slots", "les heures doivent se suivre : morning_start < noon < afternoon_end")
    slots_table.done()
    return SiteConfig(site_id, name, timezone, device, capacity, target, slots)


def _broker(table: Table, default_url: str | None, *, done: bool = True) -> BrokerConfig:
    url = table.text("url", default_url)
    if not url.startswith(("mqtt://", "mqtts://")):
        raise ConfigError(table.key("url"), "doit commencer par mqtt:// ou mqtts://")
    broker = BrokerConfig(
        url=url,
        username=table.optional("username", str),
        password_file=table.optional("password_file", str),
        ca_file=table.optional("ca_file", str),
        cert_file=table.optional("cert_file", str),
        key_file=table.optional("key_file", str),
    )
    if done:
        table.done()
    return broker


def _bus_identity(broker: BrokerConfig) -> BrokerConfig:
    """Door, kiosk and sync share one config file but log in to the local bus as different users: each unit sets
    HALFDAY_BUS_USERNAME and HALFDAY_BUS_PASSWORD_FILE, which replace the file's values."""
    username = os.environ.get("HALFDAY_BUS_USERNAME")
    password_file = os.environ.get("HALFDAY_BUS_PASSWORD_FILE")
    if username:
        broker = replace(broker, username=username)
    if password_file:
        if not Path(password_file).is_file():
            raise ConfigError("HALFDAY_BUS_PASSWORD_FILE", f"désigne un fichier absent : {password_file}")
        broker = replace(broker, password_file=password_file)
    return broker


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _door(table: Table) -> DoorConfig:
    staffed: list[tuple[int, dt.time, dt.time]] = []
    raw = table.raw("staffed") or []
    if not isinstance(raw, list):
        raise ConfigError(table.key("staffed"), 'doit être une liste comme ["mon 09:00-12:00"]')
    for item in raw:
        try:
            day, hours = str(item).split()
            start, end = hours.split("-")
            entry = (_DAYS.index(day), parse_hhmm(start), parse_hhmm(end))
        except ValueError:
            raise ConfigError(table.key("staffed"), f"« {item} » doit avoir la forme « mon 09:00-12:00 »") from None
        staffed.append(entry)
    door = DoorConfig(
        unlock_s=table.number("unlock_s", 5.0, low=0.5, high=60),
        held_open_s=table.number("held_open_s", 60.0, low=5, high=3600),
        clock_unsure=table.choice("clock_unsure", "members", ("members", "everyone", "nobody")),
        trust_clock=table.get("trust_clock", bool, False),
        staffed=tuple(staffed),
    )
    table.done()
    return door


def _kiosk(table: Table) -> KioskConfig:
    payment = table.get("payment", list, ["counter", "voucher"])
    for provider in payment:
        if provider not in ("counter", "voucher"):
            raise ConfigError(table.key("payment"), f"« {provider} » : choisir parmi counter, voucher")
    kiosk = KioskConfig(
        host=table.text("host", "127.0.0.1"),
        port=table.integer("port", 8080, low=1, high=65535),
        language=table.choice("language", "fr", ("fr", "en")),
        show_names=table.get("show_names", bool, True),
        price_halfday_cents=table.integer("price_halfday_cents", 800, low=0, high=1_000_00),
        price_day_cents=table.integer("price_day_cents", 1400, low=0, high=1_000_00),
        payment=tuple(payment),
        voucher_key_file=table.optional("voucher_key_file", str),
        secret_key_file=table.optional("secret_key_file", str),
    )
    table.done()
    return kiosk


def _hardware(raw: Any) -> Any:
    if raw is None:
        raise ConfigError("hardware", 'est une section obligatoire (pin_factory = "mock" pour simuler)')
    from hardware.config import HardwareConfig, HardwareConfigError

    try:
        return HardwareConfig.from_dict(raw)
    except HardwareConfigError as exc:
        raise ConfigError(exc.key, exc.problem) from None
