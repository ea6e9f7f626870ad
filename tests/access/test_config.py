"""The configuration: the file `halfday init` writes is valid; a bad key is named with its problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from access.config import ConfigError, load_config


def test_default_config_is_valid(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config())
    assert config.site.id == "test-site"
    assert config.site.name == "Le Local"
    assert str(config.site.tz) == "Europe/Paris"
    assert config.site.slots.noon.hour == 13
    assert config.hub is None and not config.networked
    assert config.door.unlock_s == 5.0


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('timezone = "Europe/Paris"', 'timezone = "Europe/Pariss"', "site.timezone", "fuseau"),
        ("capacity = 20", "capacity = 0", "site.capacity", "entre 1 et"),
        ("capacity = 20", 'capacity = "vingt"', "site.capacity", "entier"),
        ('noon = "13:00"', 'noon = "25h"', "slots.noon", "HH:MM"),
        ('noon = "13:00"', 'noon = "07:00"', "slots", "se suivre"),
        ('id = "test-site"', 'id = "Mon Site"', "site.id", "forme"),
        ("unlock_s = 5.0", "unlock_s = 500", "door.unlock_s", "entre"),
        ('clock_unsure = "members"', 'clock_unsure = "maybe"', "door.clock_unsure", "members"),
        ('payment = ["counter", "voucher"]', 'payment = ["cash"]', "kiosk.payment", "cash"),
        ("monthly_target = 200", "monthly_target = 200\ncolour = 1", "site.colour", "inconnue"),
        ('url = "mqtt://127.0.0.1:1883"', 'url = "http://x"', "bus.url", "mqtt://"),
        ("pin = 17", "pin = 99", "hardware.lock.pin", ""),
    ],
)
def test_bad_key_is_named(write_config: Callable[..., Path], old: str, new: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config({old: new}))
    assert info.value.key == key
    assert problem in info.value.problem
    assert key in str(info.value)


def test_missing_section_and_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[site]\nid = "x"\nname = "X"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "database"
    path.write_text("[site\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="halfday init"):
        load_config(tmp_path / "absent.toml")


def test_hub_section(write_config: Callable[..., Path]) -> None:
    extra = '\n[hub]\nurl = "mqtts://hub.example.org:8883"\npublic_key = "AAAA"\nusername = "door"\n'
    text = write_config().read_text()
    # [hub] must come before the [hardware] tables in TOML; insert it after [bus].
    path = write_config({"[door]": extra + "\n[door]"})
    config = load_config(path)
    assert config.networked and config.hub is not None
    assert config.hub.broker.url.startswith("mqtts://")
    assert "[hardware]" in text


def test_bus_identity_from_the_unit_environment(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "kiosk.password"
    secret.write_text("s3cret")
    monkeypatch.setenv("HALFDAY_BUS_USERNAME", "kiosk")
    monkeypatch.setenv("HALFDAY_BUS_PASSWORD_FILE", str(secret))
    config = load_config(write_config())
    assert (config.bus.username, config.bus.password_file) == ("kiosk", str(secret))
    monkeypatch.setenv("HALFDAY_BUS_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError) as info:
        load_config(write_config())
    assert info.value.key == "HALFDAY_BUS_PASSWORD_FILE"
