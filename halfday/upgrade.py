"""`halfday upgrade PACKAGE`: a new version of halfday on the appliance, or the old one back if the door is not ready.

1. A copy of the running venv is kept aside while the services still run (the door keeps opening).
2. The services stop, the ledger is backed up (nothing writes it any more), the new version is installed into the
   venv (its dependencies must already be there: a version that needs others comes with the installer), the ledger
   is migrated by the new version, the services start.
3. The door must be ready within the timeout (its unit is Type=notify: systemd calls it started only once the door
   said READY=1), and the others running. If not: the services stop, the old venv and the backed-up ledger come back,
   the services start again, and the report says why.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from access.backup import BackupError, backup
from access.config import Config
from access.restore import RestoreError, restore

# How long the door has to be ready after its start: its own start takes seconds; a Pi's SD card may be slow.
READY_TIMEOUT_S = 90.0
# How often the units are asked meanwhile.
READY_POLL_S = 1.0
PACKAGE_SUFFIXES = (".whl", ".tar.gz")
# pip, with only what is already in the venv: an appliance may be offline, and nothing unchecked is fetched.
PIP_OPTIONS = ("--quiet", "--disable-pip-version-check", "--no-deps", "--no-index", "--force-reinstall")


class UpgradeError(RuntimeError):
    """The upgrade did not happen or was undone (message in French, for the manager)."""


@dataclass
class Report:
    """What the upgrade did, step by step, in French."""

    steps: list[str] = field(default_factory=list)
    rolled_back: bool = False

    def say(self, line: str) -> None:
        self.steps.append(line)


def units(config: Config) -> list[str]:
    """The appliance's services that run halfday's code, the door first."""
    found = ["halfday-door.service", "halfday-kiosk.service"]
    if config.networked:
        found.append("halfday-sync.service")
    if config.mail is not None:
        found.append("halfday-mail.service")
    return found


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise UpgradeError(f"{what} a échoué : {detail[-1] if detail else f'code {result.returncode}'}")


def _systemctl(verb: str, names: list[str]) -> bool:
    return subprocess.run(["systemctl", verb, *names], capture_output=True, timeout=300).returncode == 0


def _all_active(names: list[str]) -> bool:
    return all(_systemctl("is-active", [name]) for name in names)


def wait_ready(names: list[str], timeout: float, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Whether every unit is active within `timeout` (the door's start only ends with its READY=1)."""
    deadline = time.monotonic() + timeout
    while True:
        if _all_active(names):
            return True
        if time.monotonic() >= deadline:
            return False
        sleep(READY_POLL_S)


def _keep_aside(venv: Path, report: Report) -> Path:
    """A copy of the running venv at `venv.previous`, made while the services still run: the version to go back to
    (its scripts name the venv's own path, right again once it is moved back)."""
    previous = venv.with_name(f"{venv.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    _run(["cp", "-a", str(venv), str(previous)], "la copie de la version en service")
    report.say(f"Version en service gardée de côté ({previous}).")
    return previous


def _install(venv: Path, package: Path) -> None:
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", *PIP_OPTIONS, str(package)], "l'installation de la nouvelle version")
    try:
        _run([python, "-m", "pip", "check"], "la vérification des bibliothèques")
    except UpgradeError as exc:
        raise UpgradeError(
            f"{exc} (cette version demande d'autres bibliothèques : installez-la avec install-pi.sh)"
        ) from None


def _roll_back(config: Config, venv: Path, previous: Path, saved: Path, names: list[str], report: Report) -> None:
    _systemctl("stop", list(reversed(names)))
    failed = venv.with_name(f"{venv.name}.failed")
    shutil.rmtree(failed, ignore_errors=True)
    venv.rename(failed)  # kept for whoever looks into the failure; the next upgrade removes it
    previous.rename(venv)
    try:
        restore(config, saved, force=True)
        report.say(f"Base remise telle qu'avant la mise à jour (sauvegarde {saved.name}).")
    except RestoreError as exc:
        report.say(f"Base NON remise : {exc}. Restaurez-la : halfday restore {saved}")
    _systemctl("start", names)
    back = wait_ready(names, READY_TIMEOUT_S)
    report.say(
        "Ancienne version remise en service." if back else "Ancienne version remise, mais la porte ne répond pas."
    )
    report.rolled_back = True


def upgrade(
    config: Config,
    package: Path,
    venv: Path,
    *,
    timeout: float = READY_TIMEOUT_S,
    report: Report | None = None,
) -> Report:
    """Install `package` into `venv` as described above; UpgradeError (with the report so far) when undone."""
    report = report or Report()
    package = package.absolute()
    if not package.is_file() or not package.name.endswith(PACKAGE_SUFFIXES):
        raise UpgradeError(f"{package} n'est pas un paquet de halfday (un fichier .whl ou .tar.gz)")
    if not (venv / "bin" / "python").exists():
        raise UpgradeError(f"{venv} n'est pas l'environnement de halfday (pas de bin/python)")
    previous = _keep_aside(venv, report)
    names = units(config)
    _systemctl("stop", list(reversed(names)))
    report.say("Services arrêtés : " + ", ".join(names) + ".")
    try:
        saved = backup(config).file
    except BackupError as exc:
        _systemctl("start", names)
        shutil.rmtree(previous, ignore_errors=True)
        raise UpgradeError(f"pas de mise à jour sans sauvegarde : {exc} (services relancés, rien n'a changé)") from None
    report.say(f"Base sauvegardée : {saved}.")
    try:
        _install(venv, package)
        report.say(f"Nouvelle version installée : {package.name}.")
        _run([str(venv / "bin" / "halfday"), "--config", str(config.path), "migrate"], "la migration de la base")
        report.say("Base mise au schéma de la nouvelle version.")
        _systemctl("start", names)
        if not wait_ready(names, timeout):
            raise UpgradeError(f"la porte n'est pas prête après {timeout:.0f} s")
    except UpgradeError as exc:
        report.say(f"Échec : {exc}. Retour à la version d'avant.")
        _roll_back(config, venv, previous, saved, names, report)
        raise UpgradeError(f"{exc} : la version et la base d'avant sont remises") from None
    report.say("Mise à jour faite : la porte est prête.")
    return report
