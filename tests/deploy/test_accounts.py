"""One Unix user per service: what a compromised kiosk (or door, or sync) can no longer read, and what the three
still share, on a new install and on an install from before (one user, halfday, for all three) migrated by a run
of the installer.

Each service's access is tried for real: a process runs with the user, groups and umask its installed unit gives
it (User=, Group=, SupplementaryGroups=, UMask=), the ids taken from the root's own passwd and group files, on the
files the installer left there. That needs root (the stand-in chown gives the files their owners only then); as
another user the tests check the recorded chown calls and the modes instead.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import KIOSK_SECRETS, SITE_ARGS, SYNC_STATE, Installed, Migrated
from tests.deploy.installer import (
    GROUP,
    OLD_USER,
    REPO,
    SERVICES,
    SYSTEM_PYTHON,
    Credentials,
    Installer,
    Run,
    accounts,
    can_act_as_other_users,
    chowned,
    gid_of,
    installed_site_packages,
    make_single_user,
    mode,
    owner_name,
    run_as,
    snapshot,
    unit_credentials,
    unit_settings,
)

# Whole install runs: with the soak and fault runs, in CI after `make test`.
pytestmark = pytest.mark.soak


@pytest.fixture
def as_other_users() -> None:
    """These tests play each service as its own user: without root they would prove nothing, so they fail."""
    if not can_act_as_other_users():
        pytest.fail(f"needs root and {SYSTEM_PYTHON} to run processes as the services' users (make test runs as root)")


STATE = Path("var/lib/halfday")
BUS = Path("etc/halfday/bus")
HUB_SECRETS = (Path("etc/halfday/hub/client.key"), Path("etc/halfday/hub/password"))
LEDGER = STATE / "halfday.db"

READ = "import sys\nfor path in sys.argv[1:]:\n    open(path, 'rb').read()\n"
# SyncState's way of opening its file (sync/agent/state.py), kept open until a line comes on stdin.
SYNC_STATE_OPEN = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL)")
db.execute("INSERT OR REPLACE INTO nonces VALUES ('n-1', 0)")
print("open", flush=True)
sys.stdin.readline()
db.close()
"""
# A write to the ledger as the services make theirs (WAL), optionally kept open until a line comes on stdin.
LEDGER_WRITE = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("PRAGMA journal_mode=WAL")
db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, 'written')", (sys.argv[2],))
if sys.argv[3:] == ["hold"]:
    print("open", flush=True)
    sys.stdin.readline()
db.close()
"""


@pytest.fixture(params=["installed", "migrated"])
def site(request: pytest.FixtureRequest) -> Installed | Migrated:
    """A new install joined to a hub, and an install from before one user per service, migrated."""
    made: Installed | Migrated = request.getfixturevalue(request.param)
    return made


def runs_of(site: Installed | Migrated) -> list[Run]:
    if isinstance(site, Installed):
        return [site.first, site.second, site.hub, site.after_hub]
    return [site.run, site.again]


def credentials(site: Installed | Migrated, service: str) -> Credentials:
    return unit_credentials(site.root, f"halfday-{service}")


def owner(site: Installed | Migrated, relative: Path) -> str | None:
    """The owner of a file: read back as root, else the one the recorded chown calls gave it."""
    if can_act_as_other_users():
        return owner_name(site.root, site.root / relative)
    return chowned([call for run in runs_of(site) for call in run.calls], site.root / relative)


def denied(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode != 0 and "PermissionError" in result.stderr


def hold(credentials: Credentials, root: Path, code: str, *args: str) -> subprocess.Popen[str]:
    """Run code as the unit would, until it prints its first line; it goes on when a line is written to it."""
    process = subprocess.Popen(
        [str(SYSTEM_PYTHON), "-c", code, *args],
        user=credentials.uid,
        group=credentials.gid,
        extra_groups=list(credentials.groups),
        umask=credentials.umask,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed_site_packages(root))},
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line != "open\n":
        process.kill()
        _out, err = process.communicate(timeout=30)
        pytest.fail(f"{credentials.user} could not open its file: {err}")
    return process


def release(process: subprocess.Popen[str]) -> None:
    try:
        _out, err = process.communicate("\n", timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, err


# ------------------------------------------------------------------------------------------------ the units


def test_each_daemon_runs_as_its_own_user_in_the_shared_group(site: Installed | Migrated) -> None:
    passwd, groups = accounts(site.root / "etc/passwd"), accounts(site.root / "etc/group")
    made = {service: credentials(site, service) for service in SERVICES}
    assert {service: c.user for service, c in made.items()} == {s: f"halfday-{s}" for s in SERVICES}
    assert len({c.uid for c in made.values()}) == len(SERVICES)
    assert OLD_USER not in passwd
    halfday = gid_of(site.root, GROUP)
    for service, c in made.items():
        assert c.gid == halfday, service
        assert int(passwd[c.user][3]) == halfday, service  # its primary group too, as the unit says
        # Its bus password is the one its unit names, and its own.
        environment = " ".join(
            unit_settings(site.root / f"etc/systemd/system/halfday-{service}.service")["Environment"]
        )
        assert f"HALFDAY_BUS_PASSWORD_FILE=/{BUS}/{service}.password" in environment
    # The device groups are the door's alone, given by its unit: no account is a member of them.
    assert made["door"].groups == (gid_of(site.root, "gpio"), gid_of(site.root, "halfday-reader"))
    assert made["kiosk"].groups == made["sync"].groups == ()
    assert groups["gpio"][3] == groups["halfday-reader"][3] == ""
    # The touchscreen's browser is not in the group: it can read nothing of the state folder.
    screen = unit_credentials(site.root, "halfday-screen")
    assert screen.gid != halfday and halfday not in screen.groups


def test_files_belong_to_the_service_that_needs_them(site: Installed | Migrated) -> None:
    expected = {
        **{BUS / f"{service}.password": (f"halfday-{service}:{GROUP}", 0o600) for service in SERVICES},
        **{path: (f"halfday-sync:{GROUP}", 0o600) for path in HUB_SECRETS},
        BUS: (f"root:{GROUP}", 0o750),
        STATE: (f"root:{GROUP}", 0o2770),
        LEDGER: (f"root:{GROUP}", 0o660),
        # The HTTPS certificate the installer made for the site's network: its key the kiosk's alone.
        STATE / "kiosk-tls.key": (f"halfday-kiosk:{GROUP}", 0o600),
        STATE / "kiosk-tls.crt": (f"halfday-kiosk:{GROUP}", 0o644),
    }
    if isinstance(site, Migrated):
        # The files the old services had made for themselves.
        expected |= {STATE / name: (f"halfday-kiosk:{GROUP}", 0o600) for name in KIOSK_SECRETS}
        expected[STATE / SYNC_STATE] = (f"halfday-sync:{GROUP}", 0o600)
    for relative, (user_group, file_mode) in expected.items():
        assert (owner(site, relative), mode(site.root / relative)) == (user_group, file_mode), relative


# ------------------------------------------------------------------------------------------ what the attack reads


@pytest.mark.usefixtures("as_other_users")
@pytest.mark.parametrize("service", SERVICES)
def test_a_compromised_service_reads_no_other_services_secrets(site: Installed | Migrated, service: str) -> None:
    me = credentials(site, service)
    own = site.root / BUS / f"{service}.password"
    result = run_as(me, site.root, READ, str(own))
    assert result.returncode == 0, result.stderr
    others = [site.root / BUS / f"{other}.password" for other in SERVICES if other != service]
    others.append(site.root / "etc/halfday/mosquitto.passwd")
    if service != "sync":
        others += [site.root / path for path in HUB_SECRETS]
    for path in others:
        assert denied(run_as(me, site.root, READ, str(path))), f"{me.user} reads {path}"
    if service == "sync":
        result = run_as(me, site.root, READ, *(str(site.root / path) for path in HUB_SECRETS))
        assert result.returncode == 0, result.stderr


@pytest.mark.usefixtures("as_other_users")
def test_the_three_share_the_ledger_whoever_opens_it_first(site: Installed | Migrated) -> None:
    ledger = str(site.root / LEDGER)
    # sync first, whose umask (0077) is the strictest: the -wal and -shm it creates must still serve the others.
    holder = hold(credentials(site, "sync"), site.root, LEDGER_WRITE, ledger, "test-sync", "hold")
    try:
        for suffix in ("-wal", "-shm"):
            sidecar = site.root / f"{LEDGER}{suffix}"
            assert (owner_name(site.root, sidecar), mode(sidecar)) == (f"halfday-sync:{GROUP}", 0o660)
        for service in ("kiosk", "door"):
            result = run_as(credentials(site, service), site.root, LEDGER_WRITE, ledger, f"test-{service}")
            assert result.returncode == 0, result.stderr
    finally:
        release(holder)
    check = run_as(credentials(site, "door"), site.root, LEDGER_WRITE, ledger, "test-door-after")
    assert check.returncode == 0, check.stderr
    db = sqlite3.connect(ledger)
    try:
        keys = {key for (key,) in db.execute("SELECT key FROM meta WHERE value = 'written'")}
    finally:
        db.close()
    assert {"test-sync", "test-kiosk", "test-door", "test-door-after"} <= keys


@pytest.mark.usefixtures("as_other_users")
def test_the_kiosk_makes_and_keeps_its_secrets_for_itself(site: Installed | Migrated) -> None:
    # The kiosk's own code for its secrets (common/secrets.py, as installed), under its unit's user and umask:
    # made 0600 on first use, then read back without being refused as readable by others.
    paths = [str(site.root / STATE / name) for name in (*KIOSK_SECRETS, "kiosk-tls.key")]
    use = "import sys\nfrom pathlib import Path\nfrom common.secrets import private_file\n"
    use += "for path in sys.argv[1:]:\n    assert len(private_file(Path(path))) >= 32\n"
    kiosk = credentials(site, "kiosk")
    for _ in range(2):  # first use, then the next start
        result = run_as(kiosk, site.root, use, *paths)
        assert result.returncode == 0, result.stderr
    for path in paths:
        assert (owner_name(site.root, Path(path)), mode(Path(path))) == (f"halfday-kiosk:{GROUP}", 0o600)
        for other in ("door", "sync"):
            assert denied(run_as(credentials(site, other), site.root, READ, path)), f"{other} reads {path}"


@pytest.mark.usefixtures("as_other_users")
def test_syncs_own_state_is_its_alone(site: Installed | Migrated) -> None:
    state = site.root / STATE / SYNC_STATE
    holder = hold(credentials(site, "sync"), site.root, SYNC_STATE_OPEN, str(state))
    try:
        files = [state, state.with_name(f"{SYNC_STATE}-wal"), state.with_name(f"{SYNC_STATE}-shm")]
        for path in files:
            assert (owner_name(site.root, path), mode(path)) == (f"halfday-sync:{GROUP}", 0o600), path
            for other in ("door", "kiosk"):
                assert denied(run_as(credentials(site, other), site.root, READ, str(path))), f"{other} reads {path}"
    finally:
        release(holder)


# ------------------------------------------------------------------------------------------------- migration


def test_migration_gives_each_service_its_user_and_removes_the_old_one(migrated: Migrated) -> None:
    calls = migrated.run.calls
    assert {call[-1] for call in calls if call[0] == "useradd"} == {f"halfday-{service}" for service in SERVICES}
    assert not [call for call in calls if call[0] == "groupadd"]  # the old user's group is the shared one
    assert ["userdel", "--root", str(migrated.root), OLD_USER] in calls
    assert OLD_USER not in accounts(migrated.root / "etc/passwd")
    assert GROUP in accounts(migrated.root / "etc/group")
    # The units that run them are the repository's, and nothing is owned by the old user's id any more.
    for unit in ("halfday-door", "halfday-kiosk", "halfday-sync"):
        installed_unit = migrated.root / "etc/systemd/system" / f"{unit}.service"
        assert installed_unit.read_text() == (REPO / "systemd" / f"{unit}.service").read_text()
    if can_act_as_other_users():
        known = {int(row[2]) for row in accounts(migrated.root / "etc/passwd").values()} | {0}
        for path in [*(migrated.root / "etc/halfday").rglob("*"), *(migrated.root / STATE).rglob("*")]:
            assert path.stat().st_uid in known, path


def test_a_dry_run_over_a_single_user_install_shows_the_migration_and_changes_nothing(
    installer: Installer, installed: Installed, deploy_dir: Path
) -> None:
    root = deploy_dir / "dry-migration" / "root"
    installer.copy_root(installed.root, root)
    make_single_user(root, KIOSK_SECRETS, SYNC_STATE)
    before = snapshot(root)
    run = installer.run("--dry-run", *SITE_ARGS, root=root)
    assert run.returncode == 0, run.output
    assert snapshot(root) == before
    assert run.changes == []
    actions = "\n".join(run.actions) + "\n"
    for expected in (
        *(f"--comment halfday\\ {service} halfday-{service}\n" for service in SERVICES),
        *(f"chown halfday-{service}:halfday {root}/{BUS}/{service}.password\n" for service in SERVICES),
        f"chown halfday-sync:halfday {root}/etc/halfday/hub/client.key\n",
        f"chown halfday-kiosk:halfday {root}/{STATE}/{KIOSK_SECRETS[0]}\n",
        f"chmod 2770 {root}/{STATE}\n",
        f"userdel --root {root} {OLD_USER}\n",
    ):
        assert expected in actions, expected


def test_a_migrated_install_is_left_alone_by_the_next_run(migrated: Migrated) -> None:
    assert migrated.again.actions == []
    assert migrated.again.changes == []


def test_the_installer_knows_the_names_the_code_gives_its_files() -> None:
    # The installer gives the kiosk's secrets and sync's state their owners by name: a renamed file would be
    # left to the old user's group on migration.
    installer = (REPO / "install/install-pi.sh").read_text()
    for name in (*KIOSK_SECRETS, SYNC_STATE):
        assert name in installer, name
    assert f'"{SYNC_STATE}"' in (REPO / "sync/agent/__init__.py").read_text()
