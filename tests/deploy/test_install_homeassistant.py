"""install-pi.sh and [homeassistant]: the bridge runs only while the section is there, with the site broker's
password placed for it alone; a password file elsewhere, or missing, is refused before anything changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import MANAGER_PASSWORD, SITE_ARGS, Installed
from tests.deploy.installer import Installer, Run, chowned, mode
from tests.deploy.test_install import enabled_units

# The first install (the session's `installed`) may be made here when this module runs first, then five more runs.
# A long deploy run (the installer run in a fake root): in the soak step of CI, not in `make test`.
pytestmark = [pytest.mark.timeout(900), pytest.mark.soak]

HA_PASSWORD = "etc/halfday/homeassistant-password"
HA_TABLE = """
[homeassistant]
url = "mqtt://192.168.1.10:1883"
username = "halfday"
password_file = "{password_file}"
"""


@dataclass
class Bridged:
    root: Path
    elsewhere: Run
    without_password: Run
    enabled: Run
    again: Run
    removed: Run


@pytest.fixture(scope="module")
def bridged(
    installer: Installer, installed: Installed, deploy_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Bridged:
    root = deploy_dir / "bridged" / "root"
    installer.copy_root(installed.root, root)
    env = {"HALFDAY_MANAGER_PASSWORD": MANAGER_PASSWORD}
    config = root / "etc/halfday/halfday.toml"
    plain = config.read_text()
    password = tmp_path_factory.mktemp("ha-secrets") / "broker-password"
    password.write_text("mot-de-passe-du-courtier\n")
    option = ("--homeassistant-password-file", str(password))
    config.write_text(plain + HA_TABLE.format(password_file="/root/broker-password"))
    elsewhere = installer.run(*SITE_ARGS, *option, root=root, env=env)
    config.write_text(plain + HA_TABLE.format(password_file=f"/{HA_PASSWORD}"))
    without_password = installer.run(*SITE_ARGS, root=root, env=env)
    enabled = installer.run(*SITE_ARGS, *option, root=root, env=env)
    again = installer.run(*SITE_ARGS, *option, root=root, env=env)
    config.write_text(plain)
    removed = installer.run(*SITE_ARGS, root=root, env=env)
    for run in (enabled, again, removed):
        assert run.returncode == 0, run.output
    return Bridged(root, elsewhere, without_password, enabled, again, removed)


def test_a_password_elsewhere_or_missing_is_refused_before_anything_changes(bridged: Bridged) -> None:
    assert bridged.elsewhere.returncode != 0
    assert 'écrivez password_file = "/etc/halfday/homeassistant-password"' in bridged.elsewhere.output
    assert bridged.without_password.returncode != 0
    assert "relancez avec --homeassistant-password-file" in bridged.without_password.output
    for run in (bridged.elsewhere, bridged.without_password):
        assert not [action for action in run.actions if "homeassistant-password" in action], run.output
        assert "halfday-homeassistant.service" not in enabled_units(bridged.root, [run])


def test_the_section_enables_the_bridge_with_its_private_password(bridged: Bridged) -> None:
    password = bridged.root / HA_PASSWORD
    assert mode(password) == 0o600
    assert chowned(bridged.enabled.calls, password) == "halfday-homeassistant:halfday"
    assert enabled_units(bridged.root, [bridged.enabled])["halfday-homeassistant.service"] == "enabled"
    assert bridged.again.actions == [] and bridged.again.changes == []


def test_the_section_removed_disables_the_bridge(bridged: Bridged) -> None:
    assert enabled_units(bridged.root, [bridged.removed]) == {"halfday-homeassistant.service": "disabled"}
    assert mode(bridged.root / HA_PASSWORD) == 0o600
