"""The one reader of halfday's TOML files (the site's, the hub's): typed getters that name the key, one error type.

Each section's validation reads as a list of keys with their types and limits. A bad value raises `ConfigError`
with the dotted key and the problem in French; a key nobody asked for is refused (a typo must not be silently
ignored); nothing starts half-configured.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A bad configuration: `key` is the dotted path of the key, `problem` says what is wrong (French)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration : « {key} » {problem}")
        self.key = key
        self.problem = problem


_TYPE_NAMES: dict[type, str] = {
    str: "un texte",
    int: "un entier",
    float: "un nombre",
    bool: "true ou false",
    list: "une liste",
}
_MISSING = object()


def load_toml(path: str | Path, hint: str = "") -> dict[str, Any]:
    """The TOML document at `path`; ConfigError naming the file when it is absent, unreadable or not TOML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "n'existe pas" + (f" ({hint})" if hint else "")) from None
    except OSError as exc:
        raise ConfigError(str(path), f"ne peut pas être lu : {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "n'est pas un texte UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"n'est pas un TOML valide : {exc}") from None


class Table:
    """One TOML table being validated; records which keys were read so unknown ones can be reported."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, "doit être une section (table TOML)")
        self.data: Mapping[str, Any] = data
        self.path = path
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def fail(self, name: str, problem: str) -> ConfigError:
        """The error for key `name` of this table (for checks the getters cannot express)."""
        return ConfigError(self.key(name), problem)

    def get(self, name: str, kind: type[T], default: T | None = None, *, required: bool = False) -> T:
        self._seen.add(name)
        if name not in self.data:
            if required or default is None:
                raise self.fail(name, "est obligatoire")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(name, f"doit être {_TYPE_NAMES.get(kind, kind.__name__)}")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        if name not in self.data:
            self._seen.add(name)
            return None
        return self.get(name, kind)

    def flag(self, name: str, default: bool) -> bool:
        return self.get(name, bool, default)

    def number(self, name: str, default: float | None, *, low: float, high: float, unit: str = "") -> float:
        value = self.get(name, float, default, required=default is None)
        if not math.isfinite(value) or not low <= value <= high:
            raise self.fail(name, f"doit être {unit or 'un nombre'} entre {low:g} et {high:g}")
        return value

    def seconds(self, name: str, default: float, *, high: float, low: float = 0.0) -> float:
        return self.number(name, default, low=low, high=high, unit="un nombre de secondes")

    def integer(self, name: str, default: int | None, *, low: int, high: int) -> int:
        value = self._seen_value(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(name, f"doit être un entier entre {low} et {high}")
        return value

    def optional_integer(self, name: str, *, low: int, high: int) -> int | None:
        if name not in self.data:
            self._seen.add(name)
            return None
        return self.integer(name, None, low=low, high=high)

    def choice(self, name: str, default: str | None, choices: tuple[str, ...]) -> str:
        value = self._seen_value(name, default, one_of=choices)
        if not isinstance(value, str) or value not in choices:
            raise self.fail(name, "doit valoir " + one_of(choices))
        return value

    def text(self, name: str, default: str | None = None, *, pattern: str | None = None, max_len: int = 1000) -> str:
        value = self.get(name, str, default, required=default is None)
        if not value.strip():
            raise self.fail(name, "ne doit pas être vide")
        if len(value) > max_len:
            raise self.fail(name, f"est trop long ({max_len} caractères au plus)")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.fail(name, f"n'a pas la bonne forme (attendu : {pattern})")
        return value

    def path_(self, name: str, *, must_exist: bool = False) -> str | None:
        """An optional file path; with `must_exist`, the file must be there when the config is read."""
        value = self.optional(name, str)
        if value is not None and must_exist and not Path(value).is_file():
            raise self.fail(name, f"désigne un fichier absent : {value}")
        return value

    def clock_time(self, name: str, default: str) -> dt.time:
        raw = self.get(name, str, default)
        try:
            return parse_hhmm(raw)
        except ValueError:
            raise self.fail(name, "doit être une heure HH:MM, par exemple 08:00") from None

    def strings(self, name: str, default: list[str], *, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list of texts (each among `choices` if given), without duplicates."""
        value = self.get(name, list, default)
        if any(not isinstance(v, str) for v in value) or len(set(value)) != len(value):
            raise self.fail(name, "doit être une liste de textes sans doublon")
        for item in value:
            if choices is not None and item not in choices:
                raise self.fail(name, f"« {item} » : choisir parmi " + one_of(choices))
        return tuple(value)

    def networks(self, name: str, default: tuple[IPNetwork, ...]) -> tuple[IPNetwork, ...]:
        """A list of IP addresses or networks (192.168.1.20, 192.168.1.0/24, ::1)."""
        networks = []
        for item in self.strings(name, [str(n) for n in default]):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise self.fail(name, f"« {item} » n'est pas une adresse IP ni un réseau (ex. 192.168.1.20)") from None
        return tuple(networks)

    def table(self, name: str, *, required: bool = False) -> Table:
        """A sub-table (an empty one when absent and not required)."""
        self._seen.add(name)
        if name not in self.data:
            if required:
                raise self.fail(name, "est une section obligatoire")
            return Table({}, self.key(name))
        return Table(self.data[name], self.key(name))

    def section(self, name: str) -> Table | None:
        """An optional sub-table whose presence means something (a device fitted): None when absent."""
        self._seen.add(name)
        return Table(self.data[name], self.key(name)) if name in self.data else None

    def raw(self, name: str) -> Any:
        self._seen.add(name)
        return self.data.get(name)

    def done(self) -> None:
        """Refuse keys nobody asked for: a typo must not be silently ignored."""
        for name in self.data:
            if name not in self._seen:
                raise self.fail(name, "est une clé inconnue")

    def _seen_value(self, name: str, default: Any, one_of: tuple[str, ...] | None = None) -> Any:
        self._seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is None:
            raise self.fail(name, "est obligatoire" + (" : " + _one_of_text(one_of) if one_of else ""))
        return default


def one_of(choices: tuple[str, ...]) -> str:
    """« a », « b » ou « c »"""
    return _one_of_text(choices)


def _one_of_text(choices: tuple[str, ...]) -> str:
    quoted = [f"« {c} »" for c in choices]
    return ", ".join(quoted[:-1]) + " ou " + quoted[-1] if len(quoted) > 1 else quoted[0]


def parse_hhmm(raw: str) -> dt.time:
    """'08:00' -> time(8, 0); '24:00' is refused: 23:59 as the end of hours means up to midnight (access.ledger)."""
    hours, sep, minutes = raw.partition(":")
    if not sep or len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(raw)
    return dt.time(int(hours), int(minutes))


# ---------------------------------------------------------------------------------------------- brokers


@dataclass(frozen=True)
class BrokerConfig:
    """An MQTT broker: the appliance's local bus, or the hub's broker. The password lives in a file."""

    url: str
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


BROKER_KEYS = ("url", "username", "password_file", "ca_file", "cert_file", "key_file")


def read_broker(table: Table, default_url: str | None) -> BrokerConfig:
    """The broker keys of `table` (the caller checks the table's other keys and calls `done()`)."""
    url = table.text("url", default_url)
    if not url.startswith(("mqtt://", "mqtts://")):
        raise table.fail("url", "doit commencer par mqtt:// ou mqtts://")
    return BrokerConfig(
        url=url,
        username=table.optional("username", str),
        # Not checked here: the installer validates a config before it places these files (in a target root).
        password_file=table.path_("password_file"),
        ca_file=table.path_("ca_file"),
        cert_file=table.path_("cert_file"),
        key_file=table.path_("key_file"),
    )


# ---------------------------------------------------------------------------------------------- the association


@dataclass(frozen=True)
class Association:
    """Who the reports and receipts are from: the association's name, its address lines (with its SIRET or RNA
    number if it wants them printed) and its logo (PNG, JPEG or SVG), as `[association]` gives them."""

    name: str
    address: tuple[str, ...] = ()
    logo: str | None = None


def read_association(table: Table, default_name: str) -> Association:
    """The `[association]` table; without one, the site's (or the hub's) name and no logo."""
    association = Association(
        name=table.text("name", default_name, max_len=160),
        address=table.strings("address", []),
        logo=table.path_("logo", must_exist=True),
    )
    if association.logo is not None and not association.logo.lower().endswith((".png", ".jpg", ".jpeg", ".svg")):
        raise table.fail("logo", "doit être une image PNG, JPEG ou SVG")
    table.done()
    return association
