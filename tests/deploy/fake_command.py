"""Stand-ins for the commands that change a machine (apt-get, useradd, systemctl, chown...), for installer tests.

Each call is appended to calls.jsonl in $HALFDAY_FAKE_STATE as a JSON list [command, *args]. The few queries the
installer makes (dpkg-query, systemctl is-enabled/is-active) answer from what earlier fake calls recorded, as the
real commands would after the real changes. A unit named in $HALFDAY_FAKE_FAIL_START fails its first start, as a
door that never gets ready does (the upgrade's rollback). useradd, groupadd and userdel with --root DIR change
DIR/etc/passwd and DIR/etc/group as the real ones do, each account with a numeric id of its own; installing
mosquitto adds its account there too, as the package does.

chown acts for real on the files under the test's root ($HALFDAY_FAKE_ROOT), resolving names in that root's
passwd and group files, when the test runs as root: the tests can then try each service's access with its own
ids. Run as another user it only records, like the other stand-ins; a path outside the root is never touched.

Run as `python fake_command.py NAME ARGS...` (the test writes one small wrapper per NAME first on PATH).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# What the fake systemctl reports for a unit nobody enabled, masked or started.
DEFAULT_ENABLED = "disabled"
DEFAULT_ACTIVE = "inactive"
# Ids of the fake accounts: far above both this machine's system and human accounts, one per account.
FIRST_ID = 61000


def option(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` in args."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def positional(args: list[str], takes_value: tuple[str, ...] = ()) -> list[str]:
    """Arguments that are not options (nor the values of the options in `takes_value`)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def load(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def packages_file(state: Path, root: str | None = None) -> Path:
    """Where the packages "installed" in a root (by default the test's current one) are listed."""
    root = os.environ.get("HALFDAY_FAKE_ROOT", "") if root is None else root
    return state / f"packages-{root.strip('/').replace('/', '_')}.txt"


def apt_get(state: Path, args: list[str]) -> int:
    words = positional(args)
    if words[:1] == ["install"]:
        installed = packages_file(state)
        with installed.open("a") as f:
            f.writelines(f"{package}\n" for package in words[1:])
        root = os.environ.get("HALFDAY_FAKE_ROOT")
        if (
            "mosquitto" in words[1:]
            and root
            and not any(row[0] == "mosquitto" for row in table(Path(root, "etc/passwd")))
        ):
            # Debian's mosquitto creates its system account when it is installed.
            add_account(["--root", root, "--system", "--user-group", "--home-dir", "/var/lib/mosquitto", "mosquitto"])
    return 0


def dpkg_query(state: Path, args: list[str]) -> int:
    installed = packages_file(state)
    names = installed.read_text().split() if installed.exists() else []
    package = args[-1]
    if package in names:
        sys.stdout.write("install ok installed")
        return 0
    sys.stderr.write(f"dpkg-query: no packages found matching {package}\n")
    return 1


def table(path: Path) -> list[list[str]]:
    """The lines of a passwd or group file, split on ':'."""
    return [line.split(":") for line in path.read_text().splitlines() if line] if path.exists() else []


def write_table(path: Path, rows: list[list[str]]) -> None:
    path.write_text("".join(":".join(row) + "\n" for row in rows))


def next_id(rows: list[list[str]]) -> int:
    return max([FIRST_ID - 1, *(int(row[2]) for row in rows)]) + 1


def add_account(args: list[str], group_only: bool = False) -> int:
    root = option(args, "--root")
    if root is None:
        sys.stderr.write("fake account commands only work with --root (they must not touch this machine)\n")
        return 2
    name = positional(args, ("--root", "--home-dir", "--shell", "--comment", "--gid", "-d", "-s", "-c", "-g"))[-1]
    etc = Path(root) / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    groups = table(etc / "group")
    if any(row[0] == name for row in groups if group_only or "--user-group" in args):
        sys.stderr.write(f"group '{name}' already exists\n")
        return 9
    gid: int | None = None
    if group_only or "--user-group" in args:
        gid = next_id(groups)
        write_table(etc / "group", [*groups, [name, "x", str(gid), ""]])
    if group_only:
        return 0
    passwd = table(etc / "passwd")
    if any(row[0] == name for row in passwd):
        sys.stderr.write(f"user '{name}' already exists\n")
        return 9
    primary = option(args, "--gid") or option(args, "-g")
    if primary is not None:
        found = [int(row[2]) for row in groups if row[0] == primary]
        if not found:
            sys.stderr.write(f"group '{primary}' does not exist\n")
            return 6
        gid = found[0]
    if gid is None:
        sys.stderr.write("fake useradd needs --user-group or --gid\n")
        return 2
    home = option(args, "--home-dir") or "/"
    comment = option(args, "--comment") or ""
    row = [name, "x", str(next_id(passwd)), str(gid), comment, home, "/usr/sbin/nologin"]
    write_table(etc / "passwd", [*passwd, row])
    return 0


def delete_account(args: list[str]) -> int:
    """userdel: the user goes; its group of the same name too, unless another user has it as primary group."""
    root = option(args, "--root")
    if root is None:
        sys.stderr.write("fake account commands only work with --root (they must not touch this machine)\n")
        return 2
    name = positional(args, ("--root",))[-1]
    etc = Path(root) / "etc"
    passwd = table(etc / "passwd")
    mine = [row for row in passwd if row[0] == name]
    if not mine:
        sys.stderr.write(f"userdel: user '{name}' does not exist\n")
        return 6
    others = [row for row in passwd if row[0] != name]
    write_table(etc / "passwd", others)
    groups = table(etc / "group")
    same = [row for row in groups if row[0] == name]
    if same and any(row[3] == same[0][2] for row in others):
        sys.stderr.write(f"userdel: group {name} is the primary group of another user and is not removed.\n")
    elif same:
        write_table(etc / "group", [row for row in groups if row[0] != name])
    return 0


def chown(args: list[str]) -> int:
    """chown [-R] [USER][:GROUP] PATH...: for real, under the test's root only, when the test runs as root."""
    root = os.environ.get("HALFDAY_FAKE_ROOT")
    if os.geteuid() != 0 or not root:
        return 0
    words = positional(args)
    owner, paths = words[0], [Path(path) for path in words[1:]]
    user, _, group = owner.partition(":")
    etc = Path(root) / "etc"
    uid = -1
    gid = -1
    # root is 0 on every machine, whether or not the test's root has a passwd file naming it.
    if user:
        uids = [0] if user == "root" else [int(row[2]) for row in table(etc / "passwd") if row[0] == user]
        if not uids:
            sys.stderr.write(f"chown: invalid user: {owner!r}\n")
            return 1
        uid = uids[0]
    if group:
        gids = [0] if group == "root" else [int(row[2]) for row in table(etc / "group") if row[0] == group]
        if not gids:
            sys.stderr.write(f"chown: invalid group: {owner!r}\n")
            return 1
        gid = gids[0]
    for path in paths:
        if not path.resolve().is_relative_to(Path(root).resolve()):
            sys.stderr.write(f"fake chown: {path} is outside {root}: not touched\n")
            return 1
        targets = [path]
        if "-R" in args and path.is_dir() and not path.is_symlink():
            targets += sorted(path.rglob("*"))
        for target in targets:
            os.chown(target, uid, gid, follow_symlinks=False)
    return 0


def systemctl(state: Path, args: list[str]) -> int:
    words = positional(args, ("--root",))
    # Units are enabled in one tree: this machine's, or the one given with --root.
    tree = option(args, "--root") or "/"
    verb, units = words[0], [f"{tree}|{unit}" for unit in words[1:]]
    enabled_path, active_path = state / "enabled.json", state / "active.json"
    enabled, active = load(enabled_path), load(active_path)
    if verb == "is-enabled":
        status = enabled.get(units[0], DEFAULT_ENABLED)
        print(status)
        return 0 if status == "enabled" else 1
    if verb == "is-active":
        status = active.get(units[0], DEFAULT_ACTIVE)
        if "--quiet" not in args:
            print(status)
        return 0 if status == "active" else 3
    changes = {"enable": "enabled", "disable": "disabled", "mask": "masked", "unmask": "disabled"}
    if verb in changes:
        enabled.update({unit: changes[verb] for unit in units})
        enabled_path.write_text(json.dumps(enabled))
    if verb in ("start", "restart"):
        # A unit that fails its first start, as a door that never says READY=1 does ($HALFDAY_FAKE_FAIL_START).
        failing = f"{tree}|{os.environ.get('HALFDAY_FAKE_FAIL_START', '')}"
        failed_once = state / "failed-once.json"
        first_failure = failing in units and failing not in load(failed_once)
        active.update({unit: "failed" if unit == failing and first_failure else "active" for unit in units})
        active_path.write_text(json.dumps(active))
        if first_failure:
            failed_once.write_text(json.dumps({**load(failed_once), failing: "failed"}))
            return 1
    if verb == "stop":
        active.update({unit: "inactive" for unit in units})
        active_path.write_text(json.dumps(active))
    return 0


def main(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    state = Path(os.environ["HALFDAY_FAKE_STATE"])
    with (state / "calls.jsonl").open("a") as f:
        f.write(json.dumps([name, *args]) + "\n")
    if name == "apt-get":
        return apt_get(state, args)
    if name == "dpkg-query":
        return dpkg_query(state, args)
    if name in ("useradd", "groupadd"):
        return add_account(args, group_only=name == "groupadd")
    if name == "userdel":
        return delete_account(args)
    if name == "chown":
        return chown(args)
    if name == "systemctl":
        return systemctl(state, args)
    return 0  # udevadm, modprobe: recorded, nothing else to pretend


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
