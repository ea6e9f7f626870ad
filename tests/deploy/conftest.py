"""The installs the deployment tests look at, each made once per run: a new site joined to a hub, and an install
from before one user per service, migrated."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.auth import SECRET_KEY_FILE
from kiosk.vouchers import KEY_FILE as VOUCHER_KEY_FILE
from tests.deploy.installer import Installer, Run, make_single_user, missing_from_this_venv, snapshot

MANAGER_PASSWORD = "accueil-du-local"
SITE_ARGS = ("--site-id", "le-local", "--site-name", "Le Local")
# The kiosk's secrets and sync's own state, as the code names them next to the database.
KIOSK_SECRETS = (SECRET_KEY_FILE, VOUCHER_KEY_FILE)
SYNC_STATE = "sync-state.sqlite"


def can_build_wheels_offline() -> bool:
    """Whether setuptools in this venv can build a wheel without downloading anything (bdist_wheel)."""
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="session")
def deploy_dir() -> Iterator[Path]:
    """A folder for the installed roots that every account may cross (not list): pytest's own is root's alone, and
    the tests try the files with each service's ids."""
    folder = Path(tempfile.mkdtemp(prefix="halfday-deploy-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def installer(tmp_path_factory: pytest.TempPathFactory) -> Installer:
    assert can_build_wheels_offline(), (
        "pip builds halfday offline here (--no-build-isolation): the test venv needs the `wheel` package or "
        "setuptools>=70.1 (pip install wheel)"
    )
    made = Installer(tmp_path_factory.mktemp("installer"))
    missing = missing_from_this_venv((made.source / "requirements.lock").read_text())
    assert not missing, (
        "the installs run offline and find the locked dependencies in this venv, which lacks "
        f"{', '.join(missing)}: `make venv` installs requirements.lock"
    )
    return made


@dataclass
class Installed:
    root: Path
    first: Run
    second: Run
    before_second: dict[str, tuple[int, int, int, str]]
    after_second: dict[str, tuple[int, int, int, str]]
    hub: Run
    after_hub: Run
    hub_files: Path


HUB_PUBLIC_KEY = "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="


@pytest.fixture(scope="session")
def installed(installer: Installer, deploy_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A standalone install, the same command again, then joining a hub, then that command again."""
    root = deploy_dir / "installed" / "root"
    root.mkdir(parents=True)
    env = {"HALFDAY_MANAGER_PASSWORD": MANAGER_PASSWORD}
    first = installer.run(*SITE_ARGS, root=root, env=env)
    assert first.returncode == 0, first.output
    before = snapshot(root)
    second = installer.run(*SITE_ARGS, root=root, env=env)
    assert second.returncode == 0, second.output
    after = snapshot(root)

    hub_files = tmp_path_factory.mktemp("hub-files")
    for name, text in {"ca.pem": "CA\n", "client.pem": "CERT\n", "client.key": "KEY\n", "password": "pw\n"}.items():
        (hub_files / name).write_text(text)
    hub_args = (
        "--hub-url", "mqtts://hub.example.org:8883",
        "--hub-public-key", HUB_PUBLIC_KEY,
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


@dataclass
class Migrated:
    root: Path
    run: Run
    again: Run


@pytest.fixture(scope="session")
def migrated(installer: Installer, installed: Installed, deploy_dir: Path) -> Migrated:
    """A site joined to a hub as the installer left it when one user ran the three services, then the plain
    command run over it (no --hub-* option: the person re-running it need not have the hub's files at hand), then
    that command again."""
    root = deploy_dir / "migrated" / "root"
    installer.copy_root(installed.root, root)
    make_single_user(root, KIOSK_SECRETS, SYNC_STATE)
    env = {"HALFDAY_MANAGER_PASSWORD": MANAGER_PASSWORD}
    run = installer.run(*SITE_ARGS, root=root, env=env)
    assert run.returncode == 0, run.output
    again = installer.run(*SITE_ARGS, root=root, env=env)
    assert again.returncode == 0, again.output
    return Migrated(root, run, again)
