"""install/install-pi.sh run for real into a temporary root, and its dry run (see tests/deploy/installer.py).

What one user per service gives (each service's access tried with its own ids) is in test_accounts.py.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w

from access.config import load_config
from access.db import Database
from access.store import get_meta
from kiosk.auth import PASSWORD_META
from tests.deploy.appliance_bus import BusClient, start_appliance_bus
from tests.deploy.conftest import MANAGER_PASSWORD, SITE_ARGS, Installed
from tests.deploy.installer import (
    PROBE,
    REPO,
    SERVICES,
    SYSTEM_PYTHON,
    Installer,
    Run,
    accounts,
    can_act_as_other_users,
    chowned,
    config_in,
    installed_site_packages,
    mode,
    run_as,
    snapshot,
    unit_credentials,
)

# Whole install runs: with the soak and fault runs, in CI after `make test`.
pytestmark = pytest.mark.soak

SECRETS = (
    "etc/halfday/bus/door.password",
    "etc/halfday/bus/kiosk.password",
    "etc/halfday/bus/sync.password",
    "etc/halfday/mosquitto.passwd",
)
UNITS = (
    "halfday-bus",
    "halfday-door",
    "halfday-kiosk",
    "halfday-sync",
    "halfday-mail",
    "halfday-homeassistant",
    "halfday-screen",
)
# Enabled only when the configuration has [mail], [hub] or [homeassistant].
OPTIONAL_UNITS = ("halfday-sync", "halfday-mail", "halfday-homeassistant")


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
        "apt-get install -y --no-install-recommends python3-venv python3-wheel python3-lgpio libusb-1.0-0 mosquitto "
        "fonts-dejavu-core cage chromium",
        "groupadd --root",
        "--system halfday-reader",
        "--system halfday\n",
        "--system --gid halfday --home-dir /var/lib/halfday",
        *(f"halfday-{service}\n" for service in SERVICES),
        "--comment halfday\\ mail halfday-mail\n",
        "install -d -m 2770",
        "-m venv --system-site-packages",
        "--require-hashes --no-build-isolation",
        "-r /",
        "--no-deps --no-build-isolation --force-reinstall",
        "init --site-id mon-tiers-lieu",
        "--pin-factory lgpio --reader usb",
        "chown root:halfday",
        *(f"/etc/halfday/bus/{service}.password (0600 halfday-{service}:halfday)" for service in SERVICES),
        "mosquitto_passwd -U",
        "etc/udev/rules.d/60-halfday.rules",
        "mask mosquitto.service",
        *(f"enable {unit}.service" for unit in ("halfday-bus", "halfday-door", "halfday-kiosk", "halfday-screen")),
    ):
        assert expected in actions + "\n", expected
    assert "enable halfday-sync.service" not in actions  # standalone: nothing to sync with
    assert "enable halfday-mail.service" not in actions  # no [mail]: nothing to send
    assert "enable halfday-homeassistant.service" not in actions  # no [homeassistant]: no bridge
    assert "userdel" not in actions  # nothing to migrate


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
    assert apt and {"python3-venv", "python3-wheel", "python3-lgpio", "libusb-1.0-0", "mosquitto"} <= set(apt[0])
    assert {"cage", "chromium"} <= set(apt[0])
    users = {call[-1] for call in calls if call[0] == "useradd"}
    groups = {call[-1] for call in calls if call[0] == "groupadd"}
    # The mail worker's user exists on every appliance, [mail] or not: adding the section needs no other account.
    assert users == {f"halfday-{service}" for service in SERVICES} | {
        "halfday-mail",
        "halfday-backup",
        "halfday-screen",
    }
    assert groups == {"gpio", "halfday-reader", "halfday"}
    assert all(call[1:3] == ["--root", str(installed.root)] for call in calls if call[0] in ("useradd", "groupadd"))
    assert not [call for call in calls if call[0] == "userdel"]
    enabled = {call[-1] for call in calls if call[0] == "systemctl" and "enable" in call}
    # The nightly retention of personal data and the nightly backup run on every appliance, by their timers.
    timers = {"halfday-privacy.timer", "halfday-backup.timer"}
    assert enabled == {f"{unit}.service" for unit in UNITS if unit not in OPTIONAL_UNITS} | timers
    assert (installed.root / "etc/systemd/system/halfday-backup.service").is_file()
    assert (installed.root / "etc/systemd/system/halfday-backup.timer").is_file()
    assert ["systemctl", "--root", str(installed.root), "mask", "mosquitto.service"] in calls
    # A standalone site: nothing is started under --root, and the units are those of the repository.
    assert not [call for call in calls if call[0] == "systemctl" and {"start", "restart", "daemon-reload"} & set(call)]
    for name in [f"{unit}.service" for unit in UNITS] + ["halfday-privacy.service", "halfday-privacy.timer"]:
        installed_unit = installed.root / "etc/systemd/system" / name
        assert installed_unit.read_text() == (REPO / "systemd" / name).read_text()
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
    # Made by the CLI as root, then handed to the three services' group.
    ledger = installed.root / "var/lib/halfday/halfday.db"
    assert chowned(installed.first.calls, ledger) == "root:halfday"
    assert mode(ledger) == 0o660


def test_secrets_are_private_and_owned_by_their_readers(installed: Installed) -> None:
    root = installed.root
    for relative in SECRETS:
        assert mode(root / relative) == 0o600, relative
    calls = installed.first.calls
    for name in SERVICES:
        assert chowned(calls, root / f"etc/halfday/bus/{name}.password") == f"halfday-{name}:halfday"
        assert len((root / f"etc/halfday/bus/{name}.password").read_text().strip()) >= 32
    assert chowned(calls, root / "etc/halfday/mosquitto.passwd") == "mosquitto:mosquitto"
    assert chowned(calls, root / "etc/halfday/bus") == "root:halfday"
    assert mode(root / "etc/halfday/bus") == 0o750
    # The state folder is shared by the three services' group: new files there belong to it (setgid).
    assert chowned(calls, root / "var/lib/halfday") == "root:halfday"
    assert mode(root / "var/lib/halfday") == 0o2770
    # Only salted hashes in the broker's file, never the clear passwords.
    hashed = (root / "etc/halfday/mosquitto.passwd").read_text()
    for name in SERVICES:
        assert (root / f"etc/halfday/bus/{name}.password").read_text().strip() not in hashed


def test_installed_bus_accepts_each_process_with_its_password_file(installed: Installed, tmp_path: Path) -> None:
    etc = installed.root / "etc/halfday"
    bus = start_appliance_bus(etc / "mosquitto.conf", etc / "mosquitto.acl", etc / "mosquitto.passwd", tmp_path)
    try:
        for name in SERVICES:
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


# ------------------------------------------------------------------------------------------- dependencies


def test_dependencies_come_from_the_lock_with_their_hashes_checked(installer: Installer, installed: Installed) -> None:
    actions = [action for action in installed.first.actions if " -m pip install " in action]
    assert len(actions) == 2, installed.first.output
    locked, project = actions
    assert "--require-hashes" in locked and locked.endswith("/src/requirements.lock")
    # halfday itself: no dependency resolved beside the lock's, built with the locked setuptools.
    assert "--no-deps" in project and "--no-build-isolation" in project and "--require-hashes" not in project
    # The one locked package that was not already at hand offline was fetched and matched its hash in the lock.
    probe = installed_site_packages(installed.root) / PROBE.replace("-", "_") / "__init__.py"
    assert probe.read_text() == "GENUINE = True\n"


def test_a_dependency_whose_hash_is_not_in_the_lock_is_refused(installer: Installer, tmp_path: Path) -> None:
    # A mirror, a poisoned index or a swapped USB stick serves another file under the locked name and version.
    root = tmp_path / "root"
    root.mkdir()
    run = installer.run(*("--site-id", "le-local"), root=root, wheels=installer.tampered_wheels)
    assert run.returncode != 0
    assert "DO NOT MATCH THE HASHES" in run.output, run.output
    assert installer.probe_hash in run.output
    # Nothing was installed: neither the package, nor halfday, nor a configuration made with them.
    site_packages = installed_site_packages(root)
    assert not (site_packages / PROBE.replace("-", "_")).exists()
    assert not list(site_packages.glob("halfday-*.dist-info"))
    assert not (root / "etc/halfday/halfday.toml").exists()


def test_refuses_a_lock_made_for_other_dependencies(installer: Installer, tmp_path: Path) -> None:
    source = tmp_path / "source"
    for name in ("pyproject.toml", "requirements.lock", "systemd", "install"):
        path = installer.source / name
        target = source / name
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            source.mkdir(exist_ok=True)
            target.write_bytes(path.read_bytes())
    pyproject = source / "pyproject.toml"
    data = tomllib.loads(pyproject.read_text())
    data["project"]["dependencies"].append("requests>=2")  # added without making the lock again
    pyproject.write_text(tomli_w.dumps(data))
    root = tmp_path / "root"
    root.mkdir()
    run = installer.run("--dry-run", "--source", str(source), root=root)
    assert run.returncode != 0
    assert "requirements.lock ne correspond pas à pyproject.toml" in run.output
    assert run.actions == [] and list(root.iterdir()) == []


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
    # The key and the password are sync's alone.
    assert chowned(installed.hub.calls, hub / "client.key") == "halfday-sync:halfday"
    assert chowned(installed.hub.calls, hub / "password") == "halfday-sync:halfday"
    assert ["systemctl", "--root", str(root), "enable", "halfday-sync.service"] in installed.hub.calls
    # The configuration was extended, not replaced: the site written by init is still there.
    assert config.site.id == "le-local"


def test_joining_again_changes_nothing(installed: Installed) -> None:
    assert installed.after_hub.actions == []
    assert installed.after_hub.changes == []


# ------------------------------------------------------------------------------------------------ e-mail notices

MAIL_PASSWORD = "etc/halfday/mail-password"
MAIL_TABLE = """
[mail]
host = "smtp.lelocal.fr"
from = "Le Local <accueil@lelocal.fr>"
user = "accueil@lelocal.fr"
password_file = "{password_file}"
"""


@dataclass
class Mailed:
    """An installed site as the manager turns e-mail notices on, changes the password, then turns them off."""

    root: Path
    elsewhere: Run  # [mail] names a password file of its own
    without_password: Run  # [mail] has a user, and no --mail-password-file was ever given
    enabled: Run
    again: Run
    new_password: Run
    removed: Run
    removed_again: Run
    password: Path
    config_with_mail: str


def enabled_units(root: Path, runs: list[Run]) -> dict[str, str]:
    """What the recorded systemctl calls left each unit of root: enabled or disabled."""
    states: dict[str, str] = {}
    for run in runs:
        for call in run.calls:
            if call[0] == "systemctl" and call[1:3] == ["--root", str(root)] and call[3] in ("enable", "disable"):
                states[call[4]] = f"{call[3]}d"
    return states


@pytest.fixture(scope="module")
def mailed(
    installer: Installer, installed: Installed, deploy_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Mailed:
    root = deploy_dir / "mailed" / "root"
    installer.copy_root(installed.root, root)
    env = {"HALFDAY_MANAGER_PASSWORD": MANAGER_PASSWORD}
    config = root / "etc/halfday/halfday.toml"
    plain = config.read_text()
    secrets = tmp_path_factory.mktemp("mail-secrets")
    password = secrets / "smtp-password"
    password.write_text("mot-de-passe-du-serveur\n")

    config.write_text(plain + MAIL_TABLE.format(password_file="/root/smtp-password"))
    elsewhere = installer.run(*SITE_ARGS, "--mail-password-file", str(password), root=root, env=env)
    config_with_mail = plain + MAIL_TABLE.format(password_file=f"/{MAIL_PASSWORD}")
    config.write_text(config_with_mail)
    without_password = installer.run(*SITE_ARGS, root=root, env=env)
    enabled = installer.run(*SITE_ARGS, "--mail-password-file", str(password), root=root, env=env)
    again = installer.run(*SITE_ARGS, "--mail-password-file", str(password), root=root, env=env)
    password.write_text("nouveau-mot-de-passe\n")
    new_password = installer.run(*SITE_ARGS, "--mail-password-file", str(password), root=root, env=env)
    config.write_text(plain)
    removed = installer.run(*SITE_ARGS, root=root, env=env)
    removed_again = installer.run(*SITE_ARGS, root=root, env=env)
    for run in (enabled, again, new_password, removed, removed_again):
        assert run.returncode == 0, run.output
    return Mailed(
        root,
        elsewhere,
        without_password,
        enabled,
        again,
        new_password,
        removed,
        removed_again,
        password,
        config_with_mail,
    )


def test_mail_password_elsewhere_than_the_workers_file_is_refused(mailed: Mailed) -> None:
    assert mailed.elsewhere.returncode != 0
    assert 'écrivez password_file = "/etc/halfday/mail-password"' in mailed.elsewhere.output
    assert mailed.without_password.returncode != 0
    assert "relancez avec --mail-password-file" in mailed.without_password.output
    # Refused before anything was placed or enabled.
    for run in (mailed.elsewhere, mailed.without_password):
        assert not [action for action in run.actions if "mail-password" in action], run.output
        assert "halfday-mail.service" not in enabled_units(mailed.root, [run])


def test_mail_table_enables_the_worker_with_its_private_password(mailed: Mailed) -> None:
    root = mailed.root
    password = root / MAIL_PASSWORD
    placed = [
        action
        for action in mailed.enabled.actions
        if action.startswith("+ install ") and action.endswith(f"/{MAIL_PASSWORD}")
    ]
    assert len(placed) == 1 and "install -m 0600" in placed[0], mailed.enabled.output
    assert mode(password) == 0o600
    assert chowned(mailed.enabled.calls, password) == "halfday-mail:halfday"
    assert accounts(root / "etc/passwd")["halfday-mail"][3] == accounts(root / "etc/group")["halfday"][2]
    assert enabled_units(root, [mailed.enabled])["halfday-mail.service"] == "enabled"
    # The configuration the worker was enabled with, through halfday's own validation.
    view = root.parent / "mail-view.toml"
    view.write_text(mailed.config_with_mail.replace("sqlite:////var/lib/", f"sqlite:///{root}/var/lib/"))
    config = load_config(view)
    assert config.mail is not None and config.mail.password_file == f"/{MAIL_PASSWORD}"
    # The unit the installer placed runs as that user.
    assert unit_credentials(root, "halfday-mail").user == "halfday-mail"


def test_mail_password_is_the_workers_alone(mailed: Mailed) -> None:
    assert can_act_as_other_users(), f"needs root and {SYSTEM_PYTHON} to run as the services' users"
    password = str(mailed.root / MAIL_PASSWORD)
    read = "import sys\nprint(open(sys.argv[1]).read().strip())\n"
    mail = run_as(unit_credentials(mailed.root, "halfday-mail"), mailed.root, read, password)
    assert mail.returncode == 0 and mail.stdout.strip() == "nouveau-mot-de-passe", mail.stderr
    for unit in ("halfday-door", "halfday-kiosk", "halfday-sync"):
        other = run_as(unit_credentials(mailed.root, unit), mailed.root, read, password)
        assert other.returncode != 0 and "Permission denied" in other.stderr, unit


def test_mail_install_again_changes_nothing(mailed: Mailed) -> None:
    assert mailed.again.actions == [] and mailed.again.changes == []
    assert mailed.removed_again.actions == [] and mailed.removed_again.changes == []


def test_new_mail_password_replaces_the_old_one_privately(mailed: Mailed) -> None:
    placed = [
        action
        for action in mailed.new_password.actions
        if action.startswith("+ install ") and action.endswith(f"/{MAIL_PASSWORD}")
    ]
    assert len(placed) == 1 and "install -m 0600" in placed[0], mailed.new_password.output
    assert chowned(mailed.new_password.calls, mailed.root / MAIL_PASSWORD) == "halfday-mail:halfday"
    assert (mailed.root / MAIL_PASSWORD).read_text() == "nouveau-mot-de-passe\n"


def test_mail_table_removed_disables_the_worker(mailed: Mailed) -> None:
    assert enabled_units(mailed.root, [mailed.removed]) == {"halfday-mail.service": "disabled"}
    # The rest of the site stays as it was; the password stays the worker's, for when [mail] comes back.
    assert [action for action in mailed.removed.actions if "disable" not in action] == []
    assert mode(mailed.root / MAIL_PASSWORD) == 0o600
