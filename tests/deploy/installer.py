"""install/install-pi.sh run for real into a temporary root, with stand-ins for the commands that change a machine.

The commands that change a machine (apt-get, useradd, groupadd, userdel, systemctl, chown, udevadm, modprobe) are
stand-ins first on PATH (fake_command.py) that record their calls; everything else is real: the venv is created,
the locked dependencies and halfday are installed into it by pip, `halfday init` writes the configuration and the
database, `halfday kiosk password` sets the manager's password, mosquitto_passwd hashes the bus passwords. When the
tests run as root, chown is real too, inside the test's root, and each service's access can be tried with its own
ids (`run_as`).

The installs run offline. The new venv reaches halfday's dependencies (and pip's build backend) through PYTHONPATH
pointing at the test's own venv, which `make venv` fills from requirements.lock: pip finds every locked version
already there, so it downloads none of them, and cannot check their hashes. To see pip check a hash for real, the
test's copy of the lock also names a small package made here, which pip must fetch from a local folder
(HALFDAY_PIP_ARGS: --no-index --find-links).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker

from tests.deploy.fake_command import packages_file

REPO = Path(__file__).resolve().parents[2]
FAKE_COMMAND = Path(__file__).with_name("fake_command.py")
FAKED = ("apt-get", "dpkg-query", "useradd", "groupadd", "userdel", "systemctl", "chown", "udevadm", "modprobe")
# Calls that only ask (the real commands change nothing for them).
QUERIES = {("dpkg-query",), ("systemctl", "is-enabled"), ("systemctl", "is-active")}
LOCK = "requirements.lock"
SOURCE_PATHS = (
    "pyproject.toml",
    LOCK,
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
INSTALL_TIMEOUT_S = 240
SERVICES = ("door", "kiosk", "sync", "homeassistant")
GROUP = "halfday"
# The one account of the door, the kiosk and sync before each had its own.
OLD_USER = "halfday"
# A Python every account of the machine may run (the test's own may live in root's home); stdlib only is imported.
SYSTEM_PYTHON = Path("/usr/bin/python3")
RUN_AS_TIMEOUT_S = 60
NOLOGIN = "/usr/sbin/nologin"

# The package that pip must fetch and check against the lock's hash during the installs.
PROBE = "halfday-lock-probe"
PROBE_VERSION = "1.0"
GENUINE = "GENUINE = True\n"
TAMPERED = "GENUINE = False  # not the file whose hash the lock names\n"
WHEEL = "Wheel-Version: 1.0\nGenerator: halfday-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


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


def build_probe_wheel(folder: Path, body: str) -> Path:
    """A minimal pure-Python wheel of PROBE whose module holds `body`; the same body gives the same bytes."""
    module = PROBE.replace("-", "_")
    dist_info = f"{module}-{PROBE_VERSION}.dist-info"
    files = {
        f"{module}/__init__.py": body,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: {PROBE_VERSION}\n",
        f"{dist_info}/WHEEL": WHEEL,
    }
    record = ""
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(text.encode())}\n"
    files[f"{dist_info}/RECORD"] = record + f"{dist_info}/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}-{PROBE_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return path


def locked_pins(lock_text: str) -> dict[str, tuple[str, str]]:
    """Each requirement of a lock as name -> (version, environment marker or "")."""
    pins: dict[str, tuple[str, str]] = {}
    for line in re.sub(r"\\\n", " ", lock_text).splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;([^-]*))?", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = (match.group(2), (match.group(3) or "").strip())
    return pins


def missing_from_this_venv(lock_text: str) -> list[str]:
    """The locked versions (for this machine's markers) that the test's venv does not hold."""
    missing = []
    for name, (version, marker) in locked_pins(lock_text).items():
        if name == PROBE or (marker and not Marker(marker).evaluate()):
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "absent"
        if installed != version:
            missing.append(f"{name}=={version} (this venv: {installed})")
    return missing


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
        # The probe: its genuine wheel, whose hash goes into the snapshot's lock, and a tampered one, same name.
        self.wheels = workdir / "wheels"
        self.tampered_wheels = workdir / "tampered-wheels"
        genuine = build_probe_wheel(self.wheels, GENUINE)
        build_probe_wheel(self.tampered_wheels, TAMPERED)
        self.probe_hash = hashlib.sha256(genuine.read_bytes()).hexdigest()
        lock = self.source / LOCK
        lock.write_text(
            f"{lock.read_text()}{PROBE}=={PROBE_VERSION} \\\n    --hash=sha256:{self.probe_hash}\n"
            "    # via the installer tests: the one package pip fetches offline, and checks\n"
        )

    def pip_args(self, wheels: Path | None = None) -> str:
        return f"--no-deps --no-build-isolation --no-index --no-cache-dir --find-links {wheels or self.wheels}"

    def run(
        self,
        *args: str,
        root: Path,
        env: dict[str, str] | None = None,
        fakes: bool = True,
        wheels: Path | None = None,
    ) -> Run:
        calls_file = self.state / "calls.jsonl"
        before = len(calls_file.read_text().splitlines()) if calls_file.exists() else 0
        path = f"{self.bin}:{os.environ['PATH']}" if fakes else os.environ["PATH"]
        environment = {
            **os.environ,
            "PATH": path,
            "HALFDAY_FAKE_STATE": str(self.state),
            "HALFDAY_FAKE_ROOT": str(root),
            "PYTHONPATH": sysconfig.get_paths()["purelib"],
            "HALFDAY_PIP_ARGS": self.pip_args(wheels),
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

    def copy_root(self, source: Path, target: Path) -> None:
        """A copy of an installed root (modes kept, and owners as root), with the packages the fakes installed."""
        shutil.copytree(source, target, symlinks=True)
        if os.geteuid() == 0:
            for path in [target, *target.rglob("*")]:
                info = (source / path.relative_to(target)).lstat()
                os.chown(path, info.st_uid, info.st_gid, follow_symlinks=False)
                if not path.is_symlink():
                    path.chmod(stat.S_IMODE(info.st_mode))  # chown may drop setuid and setgid bits
        shutil.copy(packages_file(self.state, str(source)), packages_file(self.state, str(target)))


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under root with its mode, owner, group and content hash (or link target)."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            digest = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = ""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid, digest)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def config_in(root: Path) -> Path:
    """The installed configuration, with its database path moved under root so that halfday can open it."""
    text = (root / "etc/halfday/halfday.toml").read_text()
    view = root.parent / "halfday-view.toml"
    view.write_text(text.replace("sqlite:////var/lib/", f"sqlite:///{root}/var/lib/"))
    return view


# ---------------------------------------------------------------------------------------- accounts and owners


def accounts(path: Path) -> dict[str, list[str]]:
    """The rows of a passwd or group file by name."""
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines() if line}


def uid_of(root: Path, user: str) -> int:
    return int(accounts(root / "etc/passwd")[user][2])


def gid_of(root: Path, group: str) -> int:
    return int(accounts(root / "etc/group")[group][2])


def owner_name(root: Path, path: Path) -> str:
    """user:group of a file, named from root's own passwd and group files (the accounts exist only there)."""
    info = path.stat()
    users = {0: "root"} | {int(row[2]): name for name, row in accounts(root / "etc/passwd").items()}
    groups = {0: "root"} | {int(row[2]): name for name, row in accounts(root / "etc/group").items()}
    return f"{users.get(info.st_uid, str(info.st_uid))}:{groups.get(info.st_gid, str(info.st_gid))}"


def chowned(calls: list[list[str]], path: Path) -> str | None:
    """The owner the recorded chown calls last gave `path` (chown -R on a folder above it counts)."""
    owner = None
    for call in calls:
        if call[0] != "chown":
            continue
        words = [arg for arg in call[1:] if not arg.startswith("-")]
        for target in words[1:]:
            if target == str(path) or ("-R" in call and str(path).startswith(target + "/")):
                owner = words[0]
    return owner


def unit_settings(path: Path) -> dict[str, list[str]]:
    """The [Service] keys of a unit file, each with its values in order."""
    settings: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            settings[key].append(value)
    return settings


@dataclass(frozen=True)
class Credentials:
    """The ids and umask a unit's process runs with, from the installed unit and root's accounts."""

    unit: str
    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    umask: int


def unit_credentials(root: Path, unit: str) -> Credentials:
    settings = unit_settings(root / "etc/systemd/system" / f"{unit}.service")
    user, group = settings["User"][-1], settings["Group"][-1]
    supplementary = sorted({word for value in settings.get("SupplementaryGroups", []) for word in value.split()})
    return Credentials(
        unit,
        user,
        uid_of(root, user),
        gid_of(root, group),
        tuple(gid_of(root, name) for name in supplementary),
        int(settings["UMask"][-1], 8),
    )


def installed_site_packages(root: Path) -> Path:
    return next((root / "opt/halfday/venv/lib").glob("python3*/site-packages"))


def run_as(credentials: Credentials, root: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python code run with a unit's user, groups and umask, the installed halfday on its path (stdlib only)."""
    return subprocess.run(
        [str(SYSTEM_PYTHON), "-c", code, *args],
        user=credentials.uid,
        group=credentials.gid,
        extra_groups=list(credentials.groups),
        umask=credentials.umask,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed_site_packages(root)), "PYTHONDONTWRITEBYTECODE": "1"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=RUN_AS_TIMEOUT_S,
    )


def can_act_as_other_users() -> bool:
    """Whether this test may run processes under the root's accounts: as root, with a Python they can all run."""
    return os.geteuid() == 0 and os.access(SYSTEM_PYTHON, os.X_OK)


# ------------------------------------------------------------------------------------ the install from before


def make_single_user(root: Path, secret_names: tuple[str, ...], sync_state: str) -> None:
    """Turn root's install into what the installer left before each service had its own user.

    One user, halfday, with the group halfday as its own, ran the door, the kiosk and sync; it owned the three bus
    passwords, the hub's key and password, the state folder (0750) and everything in it: the ledger (0600), the
    kiosk's secrets and sync's state, which the services had made for themselves. The units ran as User=halfday
    with StateDirectory=halfday. Owners are set for real only when the test runs as root.
    """
    etc = root / "etc"
    passwd = [row for name, row in accounts(etc / "passwd").items() if name not in {f"halfday-{s}" for s in SERVICES}]
    gid = gid_of(root, GROUP)
    old_uid = max(int(row[2]) for row in passwd) + 100
    passwd.append([OLD_USER, "x", str(old_uid), str(gid), "halfday door, kiosk, sync", "/var/lib/halfday", NOLOGIN])
    (etc / "passwd").write_text("".join(":".join(row) + "\n" for row in passwd))
    for service in SERVICES:
        unit = etc / "systemd/system" / f"halfday-{service}.service"
        text = unit.read_text().replace(f"User=halfday-{service}\n", f"User={OLD_USER}\n")
        unit.write_text(text.replace("ReadWritePaths=/var/lib/halfday\n", "StateDirectory=halfday\n"))
    state = root / "var/lib/halfday"
    for name in secret_names:
        path = state / name
        path.unlink(missing_ok=True)
        path.write_bytes(os.urandom(32).hex().encode())
    (state / sync_state).write_bytes(b"")  # an empty file is an empty SQLite database
    owned = [etc / "halfday/bus" / f"{service}.password" for service in SERVICES]
    owned += [etc / "halfday/hub/client.key", etc / "halfday/hub/password", state, *state.iterdir()]
    for path in owned:
        path.chmod(0o750 if path.is_dir() else 0o600)
        if os.geteuid() == 0:
            os.chown(path, old_uid, gid)
