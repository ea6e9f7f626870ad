"""install/install-pi.sh run for real into a temporary root, and its dry run.

The commands that change a machine (apt-get, useradd, groupadd, systemctl, chown, udevadm, modprobe) are stand-ins
first on PATH (fake_command.py) that record their calls; everything else is real: the venv is created and halfday
is built and installed into it by pip, `halfday init` writes the configuration and the database, `halfday kiosk
password` sets the manager's password, mosquitto_passwd hashes the bus passwords, and the resulting bus config
is started with Mosquitto.

The test runs offline: the new venv reaches halfday's dependencies (and pip's build backend) through PYTHONPATH
pointing at the test's own venv, and pip is told not to look for anything on an index (HALFDAY_PIP_ARGS).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from access.config import load_config
from access.db import Database
from access.store import get_meta
from kiosk.auth import PASSWORD_META
from tests.deploy.appliance_bus import BusClient, start_appliance_bus

REPO = Path(__file__).resolve().parents[2]
FAKE_COMMAND = Path(__file__).with_name("fake_command.py")
FAKED = ("apt-get", "dpkg-query", "useradd", "groupadd", "systemctl", "chown", "udevadm", "modprobe")
# Calls that only ask (the real commands change nothing for them).
QUERIES = {("dpkg-query",), ("systemctl", "is-enabled"), ("systemctl", "is-active")}
SOURCE_PATHS = (
    "pyproject.toml",
    "README.md",
    "access",
    "common",
    "halfday",
    "hardware",
    "kiosk",
    "sync",
    "bench",
    "systemd",
    "install",
)
MANAGER_PASSWORD = "accueil-du-local"
INSTALL_TIMEOUT_S = 240
SECRETS = (
    "etc/halfday/bus/door.password",
    "etc/halfday/bus/kiosk.password",
    "etc/halfday/bus/sync.password",
    "etc/halfday/mosquitto.passwd",
    "var/lib/halfday/halfday.db",
)
UNITS = ("halfday-bus", "halfday-door", "halfday-kiosk", "halfday-sync", "halfday-screen")


@dataclass
class Run:
    returncode: int
    output: str
    calls: list[list[str]]

    @property
    def actions(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("+ ")]

    @property
    def changes(self) -> list[list[str]]:
        """The recorded calls that would change the machine."""
        return [call for call in self.calls if (call[0],) not in QUERIES and tuple(_verb(call)) not in QUERIES]


def _verb(call: list[str]) -> list[str]:
    rest = [arg for arg in call[1:] if not arg.startswith("-") and "/" not in arg]
    return [call[0], *rest[:1]]


class Installer:
    """Runs the installer from a snapshot of the sources, with the fake commands first on PATH."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.source = workdir / "source"
        self.bin = workdir / "bin"
        self.state = workdir / "fake-state"
        # A snapshot: other work on the repository during the test must not look like a new version to install.
        for name in SOURCE_PATHS:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, self.source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif path.exists():
                self.source.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, self.source / name)
        self.bin.mkdir()
        self.state.mkdir()
        for name in FAKED:
            wrapper = self.bin / name
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_COMMAND}" {name} "$@"\n')
            wrapper.chmod(0o755)

    def run(self, *args: str, root: Path, env: dict[str, str] | None = None, fakes: bool = True) -> Run:
        calls_file = self.state / "calls.jsonl"
        before = len(calls_file.read_text().splitlines()) if calls_file.exists() else 0
        path = f"{self.bin}:{os.environ['PATH']}" if fakes else os.environ["PATH"]
        environment = {
            **os.environ,
            "PATH": path,
            "HALFDAY_FAKE_STATE": str(self.state),
            "PYTHONPATH": sysconfig.get_paths()["purelib"],
            "HALFDAY_PIP_ARGS": "--no-deps --no-build-isolation --no-index --no-cache-dir",
            **(env or {}),
        }
        result = subprocess.run(
            ["bash", str(self.source / "install" / "install-pi.sh"), "--root", str(root), *args],
            cwd=self.workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        lines = calls_file.read_text().splitlines() if calls_file.exists() else []
        return Run(result.returncode, result.stdout + result.stderr, [json.loads(x) for x in lines[before:]])


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and content hash (or link target)."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            digest = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = ""
        found[str(path.relative_to(root))] = (info.st_mode, digest)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def config_in(root: Path) -> Path:
    """The installed configuration, with its database path moved under root so that halfday can open it."""
    text = (root / "etc/halfday/halfday.toml").read_text()
    view = root.parent / "halfday-view.toml"
    view.write_text(text.replace("sqlite:////var/lib/", f"sqlite:///{root}/var/lib/"))
    return view


def can_build_wheels_offline() -> bool:
    """Whether setuptools in this venv can build a wheel without downloading anything (bdist_wheel)."""
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def installer(tmp_path_factory: pytest.TempPathFactory) -> Installer:
    assert can_build_wheels_offline(), (
        "pip builds halfday offline here (--no-build-isolation): the test venv needs the `wheel` package or "
        "setuptools>=70.1 (pip install wheel)"
    )
    return Installer(tmp_path_factory.mktemp("installer"))


@dataclass
class Installed:
    root: Path
    first: Run
    second: Run
    before_second: dict[str, tuple[int, str]]
    after_second: dict[str, tuple[int, str]]
    hub: Run
    after_hub: Run
    hub_files: Path


@pytest.fixture(scope="module")
def installed(installer: Installer, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A standalone install, the same command again, then joining a hub, then that command again."""
    root = tmp_path_factory.mktemp("target") / "root"
    root.mkdir()
    env = {"HALFDAY_MANAGER_PASSWORD": MANAGER_PASSWORD}
    first = installer.run("--site-id", "le-local", "--site-name", "Le Local", root=root, env=env)
    assert first.returncode == 0, first.output
    before = snapshot(root)
    second = installer.run("--site-id", "le-local", "--site-name", "Le Local", root=root, env=env)
    assert second.returncode == 0, second.output
    after = snapshot(root)

    hub_files = tmp_path_factory.mktemp("hub-files")
    for name, text in {"ca.pem": "CA\n", "client.pem": "CERT\n", "client.key": "KEY\n", "password": "pw\n"}.items():
        (hub_files / name).write_text(text)
    hub_args = (
        "--hub-url", "mqtts://hub.example.org:8883",
        "--hub-public-key", "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
        "--hub-username", "le-local-door-1",
        "--hub-password-file", str(hub_files / "password"),
        "--hub-ca", str(hub_files / "ca.pem"),
        "--hub-cert", str(hub_files / "client.pem"),
        "--hub-key", str(hub_files / "client.key"),
    )  # fmt: skip
    hub = installer.run(*hub_args, root=root, env=env)
    assert hub.returncode == 0, hub.output
    after_hub = installer.run(*hub_args, root=root, env=env)
    assert after_hub.returncode == 0, after_hub.output
    return Installed(root, first, second, before, after, hub, after_hub, hub_files)


# ------------------------------------------------------------------------------------------------ dry run


def test_dry_run_prints_every_action_and_changes_nothing(installer: Installer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("entree\n")
    before = snapshot(root)
    run = installer.run("--dry-run", root=root)
    assert run.returncode == 0, run.output
    assert snapshot(root) == before
    assert run.changes == []
    actions = "\n".join(run.actions)
    for expected in (
        "apt-get install -y --no-install-recommends python3-venv python3-lgpio libusb-1.0-0 mosquitto cage chromium",
        "groupadd --root",
        "--system halfday-reader",
        "--system --user-group --home-dir /var/lib/halfday",
        "-m venv --system-site-packages",
        "init --site-id mon-tiers-lieu",
        "--pin-factory lgpio --reader usb",
        "/etc/halfday/bus/door.password (0600 halfday:halfday)",
        "mosquitto_passwd -U",
        "etc/udev/rules.d/60-halfday.rules",
        "mask mosquitto.service",
        *(f"enable {unit}.service" for unit in ("halfday-bus", "halfday-door", "halfday-kiosk", "halfday-screen")),
    ):
        assert expected in actions, expected
    assert "enable halfday-sync.service" not in actions  # standalone: nothing to sync with


def test_refuses_to_call_this_machines_apt_get_under_root(installer: Installer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    run = installer.run(root=root, fakes=False)
    assert run.returncode != 0
    assert "apt-get doit être fourni" in run.output
    assert list(root.iterdir()) == []


# ------------------------------------------------------------------------------------------------ real run


def test_first_run_installs_packages_accounts_and_services(installed: Installed) -> None:
    calls = installed.first.calls
    apt = [call for call in calls if call[0] == "apt-get" and "install" in call]
    assert apt and {"python3-venv", "python3-lgpio", "libusb-1.0-0", "mosquitto", "cage", "chromium"} <= set(apt[0])
    users = {call[-1] for call in calls if call[0] == "useradd"}
    groups = {call[-1] for call in calls if call[0] == "groupadd"}
    assert users == {"halfday", "halfday-screen"} and groups == {"gpio", "halfday-reader"}
    assert all(call[1:3] == ["--root", str(installed.root)] for call in calls if call[0] in ("useradd", "groupadd"))
    enabled = {call[-1] for call in calls if call[0] == "systemctl" and "enable" in call}
    assert enabled == {f"{unit}.service" for unit in UNITS if unit != "halfday-sync"}
    assert ["systemctl", "--root", str(installed.root), "mask", "mosquitto.service"] in calls
    # A standalone site: nothing is started under --root, and the units are those of the repository.
    assert not [call for call in calls if call[0] == "systemctl" and {"start", "restart", "daemon-reload"} & set(call)]
    for unit in UNITS:
        installed_unit = installed.root / "etc/systemd/system" / f"{unit}.service"
        assert installed_unit.read_text() == (REPO / "systemd" / f"{unit}.service").read_text()
        assert mode(installed_unit) == 0o644


def test_configuration_written_by_init_for_the_pi(installed: Installed) -> None:
    path = installed.root / "etc/halfday/halfday.toml"
    assert mode(path) == 0o644
    data = tomllib.loads(path.read_text())
    assert data["site"]["id"] == "le-local" and data["site"]["name"] == "Le Local"
    assert data["hardware"]["pin_factory"] == "lgpio"
    assert data["hardware"]["reader"]["path"] == "usb"
    assert data["database"]["url"] == "sqlite:////var/lib/halfday/halfday.db"
    assert data["bus"]["url"] == "mqtt://127.0.0.1:1883"


def test_database_migrated_with_the_managers_password(installed: Installed) -> None:
    config = load_config(config_in(installed.root))
    database = Database(config.database_url)
    try:
        with database.read() as session:
            assert get_meta(session, PASSWORD_META)  # a hash, set from HALFDAY_MANAGER_PASSWORD
    finally:
        database.dispose()
    assert ["chown", "-R", "halfday:halfday", str(installed.root / "var/lib/halfday")] in installed.first.calls


def test_secrets_are_private_and_owned_by_their_readers(installed: Installed) -> None:
    root = installed.root
    for relative in SECRETS:
        assert mode(root / relative) == 0o600, relative
    chowns = {call[-1]: call[-2] for call in installed.first.calls if call[0] == "chown"}
    for name in ("door", "kiosk", "sync"):
        assert chowns[str(root / f"etc/halfday/bus/{name}.password")] == "halfday:halfday"
        assert len((root / f"etc/halfday/bus/{name}.password").read_text().strip()) >= 32
    assert chowns[str(root / "etc/halfday/mosquitto.passwd")] == "mosquitto:mosquitto"
    assert chowns[str(root / "etc/halfday/bus")] == "root:halfday"
    assert mode(root / "etc/halfday/bus") == 0o750
    assert mode(root / "var/lib/halfday") == 0o750
    # Only salted hashes in the broker's file, never the clear passwords.
    hashed = (root / "etc/halfday/mosquitto.passwd").read_text()
    for name in ("door", "kiosk", "sync"):
        assert (root / f"etc/halfday/bus/{name}.password").read_text().strip() not in hashed


def test_installed_bus_accepts_each_process_with_its_password_file(installed: Installed, tmp_path: Path) -> None:
    etc = installed.root / "etc/halfday"
    bus = start_appliance_bus(etc / "mosquitto.conf", etc / "mosquitto.acl", etc / "mosquitto.passwd", tmp_path)
    try:
        for name in ("door", "kiosk", "sync"):
            password = (etc / "bus" / f"{name}.password").read_text().strip()
            client = BusClient(bus.port, name, password, f"test-installed-{name}")
            assert not client.connect().is_failure, bus.log()
            client.close()
        intruder = BusClient(bus.port, "door", (etc / "bus/kiosk.password").read_text().strip(), "test-intruder")
        assert intruder.connect().is_failure
        intruder.close()
    finally:
        bus.stop()


def test_touchscreen_points_at_the_kiosk_and_nothing_else(installed: Installed) -> None:
    root = installed.root
    assert (root / "etc/halfday/screen.env").read_text().splitlines()[-1] == "HALFDAY_SCREEN_URL=http://127.0.0.1:8080/"
    policy = json.loads((root / "etc/chromium/policies/managed/halfday.json").read_text())
    assert policy["URLBlocklist"] == ["*"] and policy["URLAllowlist"] == ["http://127.0.0.1:8080"]
    assert mode(root / "opt/halfday/bin/halfday-screen-session") == 0o755


def test_second_run_changes_nothing(installed: Installed) -> None:
    assert installed.second.actions == []
    assert installed.second.changes == []
    assert installed.after_second == installed.before_second


# ------------------------------------------------------------------------------------------------ joining a hub


def test_joining_a_hub_adds_the_section_and_private_tls_files(installed: Installed) -> None:
    root = installed.root
    config = load_config(config_in(root))  # halfday's own validation of what the installer appended
    assert config.hub is not None
    assert config.hub.broker.url == "mqtts://hub.example.org:8883"
    assert config.hub.broker.username == "le-local-door-1"
    assert config.hub.broker.key_file == "/etc/halfday/hub/client.key"
    assert config.hub.broker.ca_file == "/etc/halfday/hub/ca.pem"
    assert config.hub.broker.password_file == "/etc/halfday/hub/password"
    hub = root / "etc/halfday/hub"
    assert mode(hub / "client.key") == 0o600 and mode(hub / "password") == 0o600
    assert mode(hub / "ca.pem") == 0o644 and mode(hub / "client.pem") == 0o644
    assert (hub / "client.key").read_text() == (installed.hub_files / "client.key").read_text()
    chowns = {call[-1]: call[-2] for call in installed.hub.calls if call[0] == "chown"}
    assert chowns[str(hub / "client.key")] == "halfday:halfday" and chowns[str(hub / "password")] == "halfday:halfday"
    assert ["systemctl", "--root", str(root), "enable", "halfday-sync.service"] in installed.hub.calls
    # The configuration was extended, not replaced: the site written by init is still there.
    assert config.site.id == "le-local"


def test_joining_again_changes_nothing(installed: Installed) -> None:
    assert installed.after_hub.actions == []
    assert installed.after_hub.changes == []
