"""Typed reading of one TOML table, with errors that name the key and the problem (in French).

A small helper shared by every section of the configuration, so each section's validation reads as a list of
keys with their types and limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad configuration: `key` is the dotted path of the key, `problem` says what is wrong (French)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration : « {key} » {problem}")
        self.key = key
        self.problem = problem


_TYPE_NAMES = {
    str: "un texte",
    int: "un entier",
    float: "un nombre",
    bool: "true ou false",
    list: "une liste",
}


class Table:
    """One TOML table being validated; records which keys were read so unknown ones can be reported."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, "doit être une section (table TOML)")
        self.data: Mapping[str, Any] = data
        self.path = path
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, kind: type[T], default: T | None = None, *, required: bool = False) -> T:
        self._seen.add(name)
        if name not in self.data:
            if required or default is None:
                raise ConfigError(self.key(name), "est obligatoire")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(self.key(name), f"doit être {_TYPE_NAMES.get(kind, kind.__name__)}")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        if name not in self.data:
            self._seen.add(name)
            return None
        return self.get(name, kind)

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.get(name, float, default)
        if not low <= value <= high:
            raise ConfigError(self.key(name), f"doit être entre {low:g} et {high:g}")
        return value

    def integer(self, name: str, default: int | None, *, low: int, high: int) -> int:
        value = self.get(name, int, default, required=default is None)
        if not low <= value <= high:
            raise ConfigError(self.key(name), f"doit être un entier entre {low} et {high}")
        return value

    def choice(self, name: str, default: str | None, choices: tuple[str, ...]) -> str:
        value = self.get(name, str, default, required=default is None)
        if value not in choices:
            raise ConfigError(self.key(name), "doit être l'une de ces valeurs : " + ", ".join(choices))
        return value

    def text(self, name: str, default: str | None = None, *, pattern: str | None = None) -> str:
        value = self.get(name, str, default, required=default is None)
        if pattern is not None:
            import re

            if not re.fullmatch(pattern, value):
                raise ConfigError(self.key(name), f"n'a pas la bonne forme (attendu : {pattern})")
        return value

    def clock_time(self, name: str, default: str) -> dt.time:
        raw = self.get(name, str, default)
        try:
            return parse_hhmm(raw)
        except ValueError:
            raise ConfigError(self.key(name), "doit être une heure HH:MM, par exemple 08:00") from None

    def table(self, name: str, *, required: bool = False) -> Table:
        self._seen.add(name)
        if name not in self.data:
            if required:
                raise ConfigError(self.key(name), "est une section obligatoire")
            return Table({}, self.key(name))
        return Table(self.data[name], self.key(name))

    def raw(self, name: str) -> Any:
        self._seen.add(name)
        return self.data.get(name)

    def done(self) -> None:
        """Refuse keys nobody asked for: a typo must not be silently ignored."""
        for name in self.data:
            if name not in self._seen:
                raise ConfigError(self.key(name), "est une clé inconnue")


def parse_hhmm(raw: str) -> dt.time:
    """'08:00' -> time(8, 0); '24:00' is refused (use 23:59 or the next slot)."""
    hours, sep, minutes = raw.partition(":")
    if not sep or len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(raw)
    return dt.time(int(hours), int(minutes))
