"""The appliance's one TOML configuration, loaded and validated once at start (common/config.py reads it).

A bad file gives one `ConfigError` naming the key and the problem; nothing starts half-configured.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import zoneinfo
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from access.config_alarms import AlarmsConfig, HomeAssistantConfig, read_alarms, read_homeassistant
from access.ledger import SlotRules, WeeklyHours
from access.passes import LATE_MINUTES
from common.badges import BadgeRule
from common.books import Books, default_series, read_books
from common.config import (
    Association,
    BrokerConfig,
    ConfigError,
    IPNetwork,
    Table,
    load_toml,
    read_association,
    read_broker,
)
from common.privacy import PrivacyConfig, read_privacy
from common.secrets import SecretFileError, read_private_file
from common.words import ClockPolicy, PaymentMethod, PlanKind
from hardware.config import (
    LEVELS,
    MAX_GPIO,
    MAX_INPUT_DEBOUNCE_S,
    MAX_READER_DEBOUNCE_S,
    NFC_TARGETS,
    PIN_FACTORIES,
    WIRINGS,
    DoorSensorConfig,
    ExitButtonConfig,
    HardwareConfig,
    IndicatorConfig,
    Level,
    LockConfig,
    PinFactoryName,
    ReaderConfig,
    Wiring,
    pin_problem,
    reader_path_ok,
)

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]

SITE_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
LOCAL_BUS_URL = "mqtt://127.0.0.1:1883"
# When a pass paid at the counter is sold, if the config does not say: the working week's usual hours.
COUNTER_HOURS = ["mon-fri 08:00-20:00"]
PASSES_ON_SALE = (PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY, PlanKind.PASS_WEEK, PlanKind.PASS_MONTH)
MAX_LATE_MINUTES = 240
COUNTER_PASSES = (PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY)
# The touchscreen's browser runs on the appliance itself.
TOUCHSCREEN_FROM: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
# A DNS name: dot-separated labels of letters, digits and inner hyphens.
HOSTNAME_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"(?=.{{1,253}}$){HOSTNAME_LABEL}(\.{HOSTNAME_LABEL})*"


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

    @property
    def rules(self) -> SlotRules:
        """The site's half-day slots in its time zone, as the ledger reads them."""
        return SlotRules(self.tz, self.slots.morning_start, self.slots.noon, self.slots.afternoon_end)


ROSTER_MAX_AGE_H = 24.0


@dataclass(frozen=True)
class HubConfig:
    broker: BrokerConfig
    public_key: str  # base64 Ed25519 public key that signs rosters and commands
    # A roster older than this while the hub is reachable raises the "roster" alarm: the hub's lists do not arrive
    # or do not apply, and the door decides on old badges and balances.
    roster_max_age_h: float = ROSTER_MAX_AGE_H


@dataclass(frozen=True)
class DoorConfig:
    unlock_s: float = 5.0
    held_open_s: float = 60.0
    # When the clock cannot be trusted: who may still come in.
    clock_unsure: ClockPolicy = ClockPolicy.MEMBERS
    # Treat the wall clock as right even when the kernel says it is not synchronised (the demo, a site whose
    # clock is kept by other means). Off by default: a Pi without RTC may boot with a wrong date.
    trust_clock: bool = False
    # Local hours when the door stays open for everyone because staff is present (empty: never).
    staffed: WeeklyHours = field(default_factory=WeeklyHours)
    # The name of the room or office whose own door this is (None: the site's entrance). Such a door admits staff
    # and the holders of a booking of that resource for the current half-day, and counts nothing.
    resource: str | None = None


@dataclass(frozen=True)
class KioskConfig:
    # The touchscreen's own listener, plain HTTP: on this machine only (its browser runs here).
    host: str = "127.0.0.1"
    port: int = 8080
    # The site's network reaches the admin and the wall display over HTTPS only ("": no such listener).
    lan_host: str = "0.0.0.0"
    lan_port: int = 8443
    # Names the site's browsers use for the kiosk, besides the machine's own name, NAME.local and localhost.
    hostnames: tuple[str, ...] = ()
    # Addresses whose requests may use the touchscreen's pages (buying, codes, passes, taps).
    touchscreen_from: tuple[IPNetwork, ...] = TOUCHSCREEN_FROM
    tls_certificate_file: str | None = None  # default: kiosk-tls.crt and kiosk-tls.key next to the database
    tls_key_file: str | None = None
    language: str = "fr"
    show_names: bool = True
    price_halfday_cents: int = 800
    price_day_cents: int = 1400
    price_week_cents: int = 5000
    price_month_cents: int = 15000
    # The passes the touchscreen sells (access/passes.py says what each covers).
    passes: tuple[PlanKind, ...] = PASSES_ON_SALE
    # A pass bought with less than this many minutes left of a half-day starts with the next one, the rest given.
    late_minutes: int = LATE_MINUTES
    payment: tuple[PaymentMethod, ...] = (PaymentMethod.COUNTER, PaymentMethod.VOUCHER)
    # A pass paid "at the counter" opens the door before anyone has been paid: it is sold only in these hours
    # (when someone can be paid), and only so many stay unpaid per half-day.
    counter_hours: WeeklyHours = field(default_factory=lambda: WeeklyHours.parse(COUNTER_HOURS))
    counter_unpaid_per_slot: int = 5
    # The passes that may be paid "at the counter", after they opened the door: a week or a month on trust is too
    # long a door left open to someone who never pays; they are paid ahead, with a voucher sold at the desk.
    counter_passes: tuple[PlanKind, ...] = COUNTER_PASSES
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
    hardware: HardwareConfig
    path: Path | None = None
    # The association's mail server for notices (None: no [mail] section, so no notice is written or sent).
    mail: MailConfig | None = None
    rooms: RoomsConfig = field(default_factory=lambda: RoomsConfig())
    # Who the receipts and the funders' report are from (`[association]`; by default the site's name).
    association: Association = field(default_factory=lambda: Association(""))
    # The books (`[books]`): this device's receipt series, the accounts of the journal, the VAT.
    books: Books = field(default_factory=lambda: Books("CAISSE"))
    # How long personal data is kept, and whom people ask about theirs (`[privacy]`, PRIVACY.md).
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    backup: BackupConfig = field(default_factory=lambda: BackupConfig())
    # Who is mailed of an alarm and the watched facts' thresholds (`[alarms]`, defaults when absent).
    alarms: AlarmsConfig = field(default_factory=lambda: AlarmsConfig())
    # The site's own home automation broker (`[homeassistant]`; None: no bridge).
    homeassistant: HomeAssistantConfig | None = None

    @property
    def networked(self) -> bool:
        return self.hub is not None

    @property
    def badges(self) -> BadgeRule:
        """Which badge identifiers this site's reader can read (what the manager may type in)."""
        return BadgeRule.for_targets(self.hardware.reader.targets)


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML file at `path`."""
    return parse_config(load_toml(path, "lancez « halfday init » pour le créer"), path=Path(path))


def parse_config(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    root = Table(data)
    site = _site(root.table("site", required=True), root.table("slots"))
    database = root.table("database", required=True)
    database_url = database.text("url")
    if not database_url.startswith(("sqlite:", "postgresql")):
        raise database.fail("url", "doit commencer par sqlite:/// (ou postgresql:// pour le hub)")
    database.done()
    bus_table = root.table("bus")
    bus = _bus_identity(read_broker(bus_table, LOCAL_BUS_URL))
    bus_table.done()
    lab = _lab(root.table("lab"))
    hub = None
    hub_table = root.section("hub")
    if hub_table is not None:
        hub = HubConfig(
            broker=read_broker(hub_table, None),
            public_key=hub_table.text("public_key"),
            roster_max_age_h=hub_table.number(
                "roster_max_age_h", ROSTER_MAX_AGE_H, low=0.1, high=24 * 90, unit="un nombre d'heures"
            ),
        )
        if not hub.broker.url.startswith("mqtts://") and not _loopback(hub.broker.url) and not lab.plaintext_hub:
            raise hub_table.fail(
                "url",
                "doit commencer par mqtts:// : en clair, les badges et les passages traversent le réseau lisibles "
                "par tous (pour un banc d'essai seulement : lab.plaintext_hub = true)",
            )
        hub_table.done()
    door = _door(root.table("door"))
    kiosk = _kiosk(root.table("kiosk"), lab)
    _late_fits(site, kiosk)
    hardware_table = root.section("hardware")
    if hardware_table is None:
        raise root.fail("hardware", 'est une section obligatoire (pin_factory = "mock" pour simuler)')
    hardware = read_hardware(hardware_table)
    if hardware.reader.path.startswith("udp") and hardware.pin_factory != "mock" and not lab.simulated_reader:
        raise ConfigError(
            "hardware.reader.path",
            "désigne le lecteur simulé (udp) alors que la serrure est réelle : n'importe qui sur le réseau pourrait "
            "ouvrir la porte (pour un banc d'essai seulement : lab.simulated_reader_with_real_pins = true)",
        )
    mail_table = root.section("mail")
    mail = read_mail(mail_table) if mail_table is not None else None
    rooms = read_rooms(root.table("rooms"))
    association = read_association(root.table("association"), site.name)
    books = read_books(root.table("books"), default_series(site.device))
    privacy = read_privacy(root.table("privacy"))
    backup = read_backup(root.table("backup"))
    alarms = read_alarms(root.table("alarms"), has_mail=mail is not None)
    ha_table = root.section("homeassistant")
    homeassistant = (
        read_homeassistant(ha_table, bus, f"halfday_{site.id}_{site.device}", kiosk.language)
        if ha_table is not None
        else None
    )
    root.done()
    return Config(
        site,
        database_url,
        bus,
        hub,
        door,
        kiosk,
        hardware,
        path,
        mail=mail,
        rooms=rooms,
        association=association,
        books=books,
        privacy=privacy,
        backup=backup,
        alarms=alarms,
        homeassistant=homeassistant,
    )


@dataclass(frozen=True)
class LabConfig:
    """What only a test bench may allow: each key names the danger it accepts."""

    plaintext_hub: bool = False
    simulated_reader: bool = False
    plaintext_kiosk: bool = False


def _lab(table: Table) -> LabConfig:
    lab = LabConfig(
        plaintext_hub=table.flag("plaintext_hub", False),
        plaintext_kiosk=table.flag("plaintext_kiosk", False),
        simulated_reader=table.flag("simulated_reader_with_real_pins", False),
    )
    table.done()
    return lab


def _loopback(url: str) -> bool:
    """Whether the broker is on this machine (the demo's hub): then nothing crosses a network."""
    return _loopback_host(urlsplit(url).hostname or "")


def _loopback_host(host: str) -> bool:
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _hostnames(table: Table) -> tuple[str, ...]:
    names = table.strings("hostnames", [])
    for name in names:
        if not re.fullmatch(HOSTNAME_PATTERN, name):
            raise table.fail("hostnames", f"« {name} » n'est pas un nom d'hôte (ex. accueil.local)")
    return tuple(name.lower() for name in names)


def _site(table: Table, slots_table: Table) -> SiteConfig:
    site_id = table.text("id", pattern=SITE_ID_PATTERN)
    name = table.text("name", max_len=120)
    timezone = table.text("timezone", "Europe/Paris")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise table.fail("timezone", "n'est pas un fuseau horaire connu (ex. Europe/Paris)") from None
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


def _weekly(table: Table, name: str, default: list[str]) -> WeeklyHours:
    try:
        return WeeklyHours.parse(table.strings(name, default))
    except ValueError as exc:
        raise table.fail(
            name, f"« {exc} » doit avoir la forme « mon 09:00-12:00 » ou « mon-fri 08:00-20:00 »"
        ) from None


def _door(table: Table) -> DoorConfig:
    staffed = _weekly(table, "staffed", [])
    door = DoorConfig(
        unlock_s=table.seconds("unlock_s", 5.0, low=0.5, high=60),
        held_open_s=table.seconds("held_open_s", 60.0, low=5, high=3600),
        clock_unsure=ClockPolicy(table.choice("clock_unsure", ClockPolicy.MEMBERS, tuple(ClockPolicy))),
        trust_clock=table.flag("trust_clock", False),
        staffed=staffed,
        resource=table.text("resource", max_len=120).strip() if table.has("resource") else None,
    )
    if door.resource is not None and staffed.periods:
        # Left open while staffed, a room's door would let in everyone, booked or not.
        raise table.fail(
            "staffed", "doit rester vide pour la porte d'une salle (door.resource) : elle n'ouvre qu'aux réservations"
        )
    table.done()
    return door


def _kiosk(table: Table, lab: LabConfig) -> KioskConfig:
    payment = table.strings("payment", list(KioskConfig.payment), choices=tuple(PaymentMethod))
    host = table.text("host", KioskConfig.host)
    if not _loopback_host(host) and not lab.plaintext_kiosk:
        raise table.fail(
            "host",
            "doit rester 127.0.0.1 : en clair, le mot de passe de l'accueil traverserait le réseau du lieu, qui "
            "atteint l'accueil et le tableau par lan_host, en HTTPS (pour un banc d'essai seulement : "
            "lab.plaintext_kiosk = true)",
        )
    certificate = table.path_("tls_certificate_file")
    key = table.path_("tls_key_file")
    if (certificate is None) != (key is None):
        raise table.fail("tls_key_file", "va de pair avec tls_certificate_file : donnez les deux ou aucun")
    kiosk = KioskConfig(
        host=host,
        port=table.integer("port", KioskConfig.port, low=1, high=65535),
        lan_host=table.text("lan_host", KioskConfig.lan_host),
        lan_port=table.integer("lan_port", KioskConfig.lan_port, low=1, high=65535),
        hostnames=_hostnames(table),
        touchscreen_from=table.networks("touchscreen_from", TOUCHSCREEN_FROM),
        tls_certificate_file=certificate,
        tls_key_file=key,
        language=table.choice("language", "fr", ("fr", "en")),
        show_names=table.flag("show_names", True),
        price_halfday_cents=table.integer("price_halfday_cents", 800, low=0, high=1_000_00),
        price_day_cents=table.integer("price_day_cents", 1400, low=0, high=1_000_00),
        price_week_cents=table.integer("price_week_cents", 5000, low=0, high=1_000_00),
        price_month_cents=table.integer("price_month_cents", 15000, low=0, high=1_000_00),
        passes=tuple(PlanKind(p) for p in table.strings("passes", list(PASSES_ON_SALE), choices=PASSES_ON_SALE)),
        late_minutes=table.integer("late_minutes", LATE_MINUTES, low=0, high=MAX_LATE_MINUTES),
        payment=tuple(PaymentMethod(p) for p in payment),
        counter_hours=_weekly(table, "counter_hours", COUNTER_HOURS),
        counter_unpaid_per_slot=table.integer("counter_unpaid_per_slot", 5, low=0, high=1000),
        counter_passes=tuple(
            PlanKind(p) for p in table.strings("counter_passes", list(COUNTER_PASSES), choices=PASSES_ON_SALE)
        ),
        voucher_key_file=table.optional("voucher_key_file", str),
        secret_key_file=table.optional("secret_key_file", str),
    )
    table.done()
    return kiosk


def _late_fits(site: SiteConfig, kiosk: KioskConfig) -> None:
    """A half-day shorter than `late_minutes` would always be "late": every pass would start with the next one."""
    rules = site.rules
    shortest = min(_minutes(rules.morning_start, rules.noon), _minutes(rules.noon, rules.afternoon_end))
    if kiosk.late_minutes >= shortest:
        raise ConfigError(
            "kiosk.late_minutes", f"doit être plus court que la plus courte demi-journée ({shortest} minutes)"
        )
    for kind in kiosk.passes:
        by_counter = PaymentMethod.COUNTER in kiosk.payment and kind in kiosk.counter_passes
        if not by_counter and PaymentMethod.VOUCHER not in kiosk.payment:
            raise ConfigError(
                "kiosk.passes",
                f"« {kind} » ne pourrait pas être payé : ajoutez-le à counter_passes, ou « voucher » à payment",
            )


def _minutes(start: dt.time, end: dt.time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


# ---------------------------------------------------------------------------------------------- [mail]

MAIL_SECURITY = ("starttls", "tls", "none")
# The usual port of each way of talking to a mail server: submission with STARTTLS, implicit TLS, plain SMTP.
MAIL_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class MailConfig:
    """The association's own SMTP server, and when members are told things by e-mail."""

    host: str
    sender: str  # the From: address, e.g. "Le Local <accueil@lelocal.fr>"
    port: int = 587
    security: str = "starttls"  # MAIL_SECURITY
    user: str | None = None
    # Read by the mail worker at its start (`mail_password`), not here: the door and the kiosk read this config
    # too, and only the worker's account may read the password.
    password_file: str | None = None
    # The certificate authority that signed the server's certificate, when it is the association's own (default:
    # the system's authorities). The server's certificate is always checked: a notice carries members' names.
    ca_file: str | None = None
    low_carnet_threshold: int = 2  # an entry that takes a carnet down to this many half-days writes a notice
    plan_ending_days: int = 3  # a plan ending within this many days gets a notice
    monthly_statements: bool = True  # statements on the 1st to the members who asked for one
    timeout_s: float = 30.0


def read_mail(table: Table) -> MailConfig:
    """The `[mail]` table (the password file is read by the worker itself, see `mail_password`)."""
    security = table.choice("security", "starttls", MAIL_SECURITY)
    host = table.text("host", max_len=253)
    if not re.fullmatch(HOSTNAME_PATTERN, host) and not _ip_address(host):
        raise table.fail("host", f"« {host} » n'est pas un nom de serveur ni une adresse IP (ex. smtp.example.org)")
    sender = table.text("from", max_len=254)
    if "\n" in sender or "\r" in sender or not EMAIL_IN_SENDER.search(sender):
        raise table.fail("from", "doit contenir une adresse e-mail (ex. « Le Local <accueil@lelocal.fr> »)")
    user = table.optional("user", str)
    password_file = table.path_("password_file")
    if (user is None) != (password_file is None):
        raise table.fail("password_file", "va de pair avec user : donnez les deux ou aucun")
    if security == "none" and user is not None and not _loopback_host(host):
        raise table.fail(
            "security",
            "« none » enverrait le mot de passe et les e-mails en clair sur le réseau : choisissez « starttls » "
            "ou « tls »",
        )
    mail = MailConfig(
        host=host,
        sender=sender,
        port=table.integer("port", MAIL_PORTS[security], low=1, high=65535),
        security=security,
        user=user,
        password_file=password_file,
        ca_file=table.path_("ca_file", must_exist=True),
        low_carnet_threshold=table.integer("low_carnet_threshold", 2, low=0, high=1000),
        plan_ending_days=table.integer("plan_ending_days", 3, low=0, high=60),
        monthly_statements=table.flag("monthly_statements", True),
        timeout_s=table.seconds("timeout_s", 30.0, low=1, high=300),
    )
    table.done()
    return mail


def mail_password(mail: MailConfig) -> str | None:
    """The mail server's password, read from its file when the mail worker starts: a file it cannot read stops it
    there with a message that names it, not at the first notice."""
    if mail.password_file is None:
        return None
    try:
        return read_private_file(Path(mail.password_file), min_bytes=1).decode("utf-8")
    except SecretFileError as exc:
        raise ConfigError("mail.password_file", str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError("mail.password_file", f"{mail.password_file} n'est pas un texte UTF-8") from None


# An address inside a From: value, bare or between angle brackets.
EMAIL_IN_SENDER = re.compile(r"(^|<)[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+(>|$)")


def _ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- [hardware]


def read_hardware(table: Table) -> HardwareConfig:
    """The `[hardware]` table: the GPIO backend, the lock, the optional sensor, button and indicator, the reader."""
    factory = cast(PinFactoryName, table.choice("pin_factory", None, PIN_FACTORIES))
    lock = _lock(table.table("lock"))
    sensor_table = table.section("door_sensor")
    door_sensor = _door_sensor(sensor_table) if sensor_table is not None else None
    button_table = table.section("exit_button")
    exit_button = _exit_button(button_table) if button_table is not None else None
    indicator = _indicator(table.table("indicator"))
    reader = _reader(table.table("reader"))
    table.done()
    config = HardwareConfig(factory, reader, lock, door_sensor, exit_button, indicator)
    problem = pin_problem(config)
    if problem is not None:
        raise ConfigError(*problem)
    return config


T = TypeVar("T")


def _done(t: Table, value: T) -> T:
    """`value`, once every key of its table was read (an unknown one is refused)."""
    t.done()
    return value


def _pin(t: Table, name: str, default: int) -> int:
    return t.integer(name, default, low=0, high=MAX_GPIO)


def _debounce(t: Table, default: float) -> float:
    return t.seconds("debounce_s", default, high=MAX_INPUT_DEBOUNCE_S)


def _lock(t: Table) -> LockConfig:
    d = LockConfig()
    wiring = cast(Wiring, t.choice("wiring", d.wiring, WIRINGS))
    return _done(t, LockConfig(_pin(t, "pin", d.pin), t.flag("active_high", d.active_high), wiring))


def _door_sensor(t: Table) -> DoorSensorConfig:
    d = DoorSensorConfig()
    closed_when = cast(Level, t.choice("closed_when", d.closed_when, LEVELS))
    return _done(t, DoorSensorConfig(_pin(t, "pin", d.pin), closed_when, _debounce(t, d.debounce_s)))


def _exit_button(t: Table) -> ExitButtonConfig:
    d = ExitButtonConfig()
    return _done(t, ExitButtonConfig(_pin(t, "pin", d.pin), _debounce(t, d.debounce_s)))


def _indicator(t: Table) -> IndicatorConfig:
    pins = (t.optional_integer(name, low=0, high=MAX_GPIO) for name in ("green_pin", "red_pin", "buzzer_pin"))
    return _done(t, IndicatorConfig(*pins))


def _reader(t: Table) -> ReaderConfig:
    # No default path: a default would pick a reader (or the simulator) the site never named.
    path = t.raw("path")
    if path is None:
        raise t.fail("path", "est obligatoire (chemin nfcpy du lecteur)")
    if not isinstance(path, str) or not reader_path_ok(path):
        raise t.fail("path", "doit être un chemin nfcpy : « usb », « tty:PORT:PILOTE » ou « udp:HÔTE:PORT »")
    targets = t.raw("targets")
    if targets is None:
        targets = list(ReaderConfig.targets)
    if (
        not isinstance(targets, list)
        or not targets
        or any(x not in NFC_TARGETS for x in targets)
        or len(set(targets)) != len(targets)
    ):
        raise t.fail("targets", "doit être une liste sans doublon parmi " + ", ".join(NFC_TARGETS))
    reader = ReaderConfig(
        path=path,
        targets=tuple(targets),
        debounce_s=t.seconds("debounce_s", ReaderConfig.debounce_s, high=MAX_READER_DEBOUNCE_S),
    )
    t.done()
    return reader


# ---------------------------------------------------------------------------------------------- [rooms]

# Until when a member may cancel their own booking of a room or office: until the day before, or never (the
# manager always may, from the admin).
ROOM_CANCEL_RULES = ("day_before", "never")


@dataclass(frozen=True)
class RoomsConfig:
    """How the site's rooms and offices are booked (access/bookings.py)."""

    cancel: str = "day_before"  # ROOM_CANCEL_RULES


def read_rooms(table: Table) -> RoomsConfig:
    """The `[rooms]` table (every key optional)."""
    rooms = RoomsConfig(cancel=table.choice("cancel", "day_before", ROOM_CANCEL_RULES))
    table.done()
    return rooms


# ---------------------------------------------------------------------------------------------- [backup]


@dataclass(frozen=True)
class BackupConfig:
    """How long `halfday backup` keeps its copies, and where a second copy goes (access/backup.py)."""

    keep_days: int = 14
    # A folder on a USB stick (e.g. /media/halfday-sauvegardes): each backup is copied there too. None: no copy.
    usb_folder: str | None = None


def read_backup(table: Table) -> BackupConfig:
    """The `[backup]` table (every key optional)."""
    usb = table.optional("usb_folder", str)
    if usb is not None and not Path(usb).is_absolute():
        raise table.fail("usb_folder", "doit être un chemin absolu, par exemple /media/sauvegardes")
    backup = BackupConfig(keep_days=table.integer("keep_days", 14, low=1, high=3650), usb_folder=usb)
    table.done()
    return backup
