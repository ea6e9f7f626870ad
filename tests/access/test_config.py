"""The configuration: the file `halfday init` writes is valid; a bad key is named with its problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from access.config import ConfigError, load_config
from access.default_config import render


def test_the_file_init_writes_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "halfday.toml"
    path.write_text(render("mon-site", 'Le "Local"', str(tmp_path / "halfday.db")), encoding="utf-8")
    config = load_config(path)
    assert config.site.id == "mon-site"
    assert config.site.name == 'Le "Local"'
    assert str(config.site.tz) == "Europe/Paris"
    assert config.site.slots.noon.hour == 13
    assert config.hub is None and not config.networked
    assert config.door.unlock_s == 5.0 and config.door.trust_clock is False


@pytest.mark.parametrize(
    ("overrides", "key", "problem"),
    [
        ({"site": {"timezone": "Europe/Pariss"}}, "site.timezone", "fuseau"),
        ({"site": {"capacity": 0}}, "site.capacity", "entre 1 et"),
        ({"site": {"capacity": "vingt"}}, "site.capacity", "entier"),
        ({"slots": {"noon": "25h"}}, "slots.noon", "HH:MM"),
        ({"slots": {"noon": "07:00"}}, "slots", "se suivre"),
        ({"site": {"id": "Mon Site"}}, "site.id", "forme"),
        ({"door": {"unlock_s": 500}}, "door.unlock_s", "entre"),
        ({"door": {"clock_unsure": "maybe"}}, "door.clock_unsure", "members"),
        ({"kiosk": {"payment": ["cash"]}}, "kiosk.payment", "cash"),
        ({"site": {"colour": 1}}, "site.colour", "inconnue"),
        ({"bus": {"url": "http://x"}}, "bus.url", "mqtt://"),
        ({"hardware": {"lock": {"pin": 99}}}, "hardware.lock.pin", "entre 0 et 27"),
        ({"hub": {"url": "mqtts://hub.example.org:8883"}}, "hub.public_key", "obligatoire"),
        ({"hub": {"url": "mqtt://hub.example.org:1883", "public_key": "AAAA"}}, "hub.url", "mqtts://"),
        ({"hardware": {"pin_factory": "lgpio"}}, "hardware.reader.path", "lecteur simulé"),
        ({"lab": {"plaintext": True}}, "lab.plaintext", "inconnue"),
        ({"kiosk": {"host": "0.0.0.0"}}, "kiosk.host", "lab.plaintext_kiosk"),
        ({"kiosk": {"touchscreen_from": ["192.168.1.300"]}}, "kiosk.touchscreen_from", "adresse IP"),
        ({"kiosk": {"hostnames": ["accueil local"]}}, "kiosk.hostnames", "nom d'hôte"),
        ({"kiosk": {"tls_key_file": "/etc/halfday/k.key"}}, "kiosk.tls_key_file", "les deux"),
    ],
)
def test_bad_key_is_named(write_config: Callable[..., Path], overrides: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(overrides))
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
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "AAAA", "username": "door"}
    config = load_config(write_config({"hub": hub}))
    assert config.networked and config.hub is not None
    assert config.hub.broker.url.startswith("mqtts://") and config.hub.broker.username == "door"


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


def test_a_lab_may_allow_each_dangerous_mix_by_its_name(write_config: Callable[..., Path]) -> None:
    hub = {"url": "mqtt://hub.example.org:1883", "public_key": "AAAA"}
    lab = {"plaintext_hub": True, "simulated_reader_with_real_pins": True, "plaintext_kiosk": True}
    overrides = {"hub": hub, "hardware": {"pin_factory": "lgpio"}, "kiosk": {"host": "0.0.0.0"}, "lab": lab}
    config = load_config(write_config(overrides))
    assert config.hub is not None and config.hub.broker.url.startswith("mqtt://")
    assert config.kiosk.host == "0.0.0.0"
    assert config.hardware.pin_factory == "lgpio" and config.hardware.reader.path.startswith("udp:")
    # A hub on this very machine (the demo's) crosses no network: plain MQTT is fine there.
    local = {"url": "mqtt://127.0.0.1:1883", "public_key": "AAAA"}
    assert load_config(write_config({"hub": local})).networked
