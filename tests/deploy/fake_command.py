"""Stand-ins for the commands that change a machine (apt-get, useradd, systemctl, chown...), for installer tests.

Each call is appended to calls.jsonl in $HALFDAY_FAKE_STATE as a JSON list [command, *args]. The few queries the
installer makes (dpkg-query, systemctl is-enabled/is-active) answer from what earlier fake calls recorded, as the
real commands would after the real changes. useradd and groupadd with --root DIR add the account to DIR/etc/passwd
and DIR/etc/group, as the real ones do.

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


def apt_get(state: Path, args: list[str]) -> int:
    words = positional(args)
    if words[:1] == ["install"]:
        installed = state / "packages.txt"
        with installed.open("a") as f:
            f.writelines(f"{package}\n" for package in words[1:])
    return 0


def dpkg_query(state: Path, args: list[str]) -> int:
    installed = state / "packages.txt"
    names = installed.read_text().split() if installed.exists() else []
    package = args[-1]
    if package in names:
        sys.stdout.write("install ok installed")
        return 0
    sys.stderr.write(f"dpkg-query: no packages found matching {package}\n")
    return 1


def add_account(args: list[str], group_only: bool) -> int:
    root = option(args, "--root")
    if root is None:
        sys.stderr.write("fake account commands only work with --root (they must not touch this machine)\n")
        return 2
    name = positional(args, ("--root", "--home-dir", "--shell", "--comment", "-d", "-s", "-c"))[-1]
    etc = Path(root) / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    if not group_only:
        with (etc / "passwd").open("a") as f:
            f.write(f"{name}:x:999:999::{option(args, '--home-dir') or '/'}:/usr/sbin/nologin\n")
    if group_only or "--user-group" in args:
        with (etc / "group").open("a") as f:
            f.write(f"{name}:x:999:\n")
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
        active.update({unit: "active" for unit in units})
        active_path.write_text(json.dumps(active))
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
    if name == "systemctl":
        return systemctl(state, args)
    return 0  # chown, udevadm, modprobe: recorded, nothing else to pretend


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
