"""requirements.lock: the appliance's dependencies pinned with their hashes, and whether it still fits pyproject.toml.

    python3 install/lockfile.py check            # `make test` and the installer: exit 1, saying why, if stale
    python3 install/lockfile.py update --uv UV   # `make lock`: resolve again from PyPI and rewrite the lock

The lock is made by uv (`uv pip compile --universal --generate-hashes`) from [project].dependencies and
[build-system].requires, for the Pi's Python. Its header records a digest of those lists and of requires-python;
`check` compares that digest with pyproject.toml's, so it needs neither the network nor uv: resolving again would
need PyPI, and its result would change with every release there, not only with our dependency list.

Standard library only (Python 3.11 or later): the installer runs it with the Pi's own python3 before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK_NAME = "requirements.lock"
# Raspberry Pi OS Bookworm's python3; the resolution is universal otherwise (every platform's markers kept).
TARGET_PYTHON = "3.11"
DIGEST_PREFIX = "# pyproject-sha256: "
# What uv is given besides pyproject.toml: [build-system].requires, so that the installer builds halfday with a
# hash-checked setuptools instead of letting pip fetch one unchecked into an isolated build.
BUILD_INPUT = "build-system.txt"
BUILD_ANNOTATION = "halfday's build ([build-system] of pyproject.toml)"

HEADER = f"""\
# The appliance's Python dependencies, each pinned with the sha256 of every file PyPI has for that version (wheels
# for every platform and the sdist), so that the same lock serves the 64-bit Pi (aarch64) and this machine; a
# 32-bit Pi (armv7) finds no psycopg-binary for it (README.md). install/install-pi.sh installs it with `pip install
# --require-hashes` (pip refuses any file whose hash is not listed here), then halfday itself with --no-deps.
#
# Made from [project].dependencies and [build-system].requires of pyproject.toml by `make lock`, which runs
# `uv pip compile --universal --python-version {TARGET_PYTHON} --generate-hashes` (install/lockfile.py); `make lock
# UPGRADE=1` moves every pin to the newest release. Do not edit by hand: `make test` checks that the digest below
# still matches pyproject.toml and fails until the lock is made again.
"""


class LockError(RuntimeError):
    """The lock cannot be made (message in French, for the developer's terminal)."""


def canonical_name(name: str) -> str:
    """A project name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"exigence illisible : {requirement!r}")
    return canonical_name(match.group(1))


def _spaceless(requirements: list[str]) -> list[str]:
    return sorted("".join(requirement.split()) for requirement in requirements)


def lock_inputs(pyproject: dict[str, object]) -> dict[str, object]:
    """What a resolution starts from: the runtime and build requirements and the Python versions."""
    project = pyproject.get("project", {})
    build = pyproject.get("build-system", {})
    assert isinstance(project, dict) and isinstance(build, dict)
    return {
        "dependencies": _spaceless(list(project.get("dependencies", []))),
        "build-system": _spaceless(list(build.get("requires", []))),
        "requires-python": "".join(str(project.get("requires-python", "")).split()),
    }


def pyproject_digest(pyproject_path: Path) -> str:
    """The sha256 of lock_inputs, independent of the order and spacing of the lists in pyproject.toml."""
    with pyproject_path.open("rb") as f:
        inputs = lock_inputs(tomllib.load(f))
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def requirement_lines(text: str) -> list[str]:
    """The lock's requirements, each on one logical line (continuations joined, comments dropped)."""
    logical = re.sub(r"\\\n", " ", text)
    lines = []
    for line in logical.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            lines.append(line)
    return lines


def problems(root: Path = REPO) -> list[str]:
    """Why root's requirements.lock does not fit its pyproject.toml; empty when it does."""
    lock_path, pyproject_path = root / LOCK_NAME, root / "pyproject.toml"
    if not lock_path.exists():
        return [f"{LOCK_NAME} manque : lancez « make lock » (il faut PyPI) et ajoutez le fichier au dépôt"]
    text = lock_path.read_text()
    found: list[str] = []
    recorded = [
        line.removeprefix(DIGEST_PREFIX).strip() for line in text.splitlines() if line.startswith(DIGEST_PREFIX)
    ]
    if recorded != [pyproject_digest(pyproject_path)]:
        found.append(
            f"{LOCK_NAME} n'a pas été fait pour les dépendances actuelles de pyproject.toml ([project].dependencies, "
            "requires-python ou [build-system].requires ont changé depuis) : lancez « make lock » (il faut PyPI) "
            "et ajoutez le nouveau fichier au même commit"
        )
    pinned: set[str] = set()
    for line in requirement_lines(text):
        if line.startswith("-"):
            found.append(f"{LOCK_NAME} : option inattendue {line.split()[0]!r} (refaites-le avec « make lock »)")
            continue
        name = requirement_name(line)
        if not re.match(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*==\s*[^\s;]+", line):
            found.append(f"{LOCK_NAME} : {name} n'est pas épinglé avec ==")
        if "--hash=sha256:" not in line:
            found.append(f"{LOCK_NAME} : {name} n'a pas d'empreinte sha256")
        pinned.add(name)
    with pyproject_path.open("rb") as f:
        inputs = lock_inputs(tomllib.load(f))
    for key in ("dependencies", "build-system"):
        requirements = inputs[key]
        assert isinstance(requirements, list)
        for requirement in requirements:
            if requirement_name(requirement) not in pinned:
                found.append(f"{requirement} (pyproject.toml, {key}) n'est pas dans {LOCK_NAME}")
    return found


def update(root: Path, uv: str, upgrade: bool = False) -> None:
    """Resolve pyproject.toml's requirements again with uv and write root's requirements.lock with its digest."""
    lock_path, pyproject_path = root / LOCK_NAME, root / "pyproject.toml"
    with pyproject_path.open("rb") as f:
        build = lock_inputs(tomllib.load(f))["build-system"]
    assert isinstance(build, list)
    with tempfile.TemporaryDirectory(prefix="halfday-lock-") as tmp:
        work = Path(tmp)
        # uv names its inputs in the annotations: run it on copies with short names, beside the old lock, whose pins
        # it keeps where they still fit (unless upgrade).
        shutil.copy(pyproject_path, work / "pyproject.toml")
        (work / BUILD_INPUT).write_text("".join(f"{requirement}\n" for requirement in build))
        if lock_path.exists():
            shutil.copy(lock_path, work / LOCK_NAME)
        command = [
            uv, "pip", "compile", "pyproject.toml", BUILD_INPUT,
            "--universal", "--python-version", TARGET_PYTHON, "--generate-hashes",
            "--no-header", "--quiet", "--output-file", LOCK_NAME,
        ]  # fmt: skip
        if upgrade:
            command.append("--upgrade")
        result = subprocess.run(command, cwd=work, capture_output=True, text=True)
        if result.returncode != 0:
            raise LockError(f"uv n'a pas pu résoudre les dépendances :\n{result.stderr}")
        body = (work / LOCK_NAME).read_text()
    body = "\n".join(line for line in body.splitlines() if not line.startswith(DIGEST_PREFIX)) + "\n"
    body = body.replace(f"-r {BUILD_INPUT}", BUILD_ANNOTATION)
    lock_path.write_text(f"{HEADER}{DIGEST_PREFIX}{pyproject_digest(pyproject_path)}\n\n{body.lstrip()}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO, help="le dépôt (défaut : celui de ce script)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="vérifier que requirements.lock correspond à pyproject.toml")
    update_parser = commands.add_parser("update", help="refaire requirements.lock (il faut PyPI)")
    update_parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="le programme uv")
    update_parser.add_argument("--upgrade", action="store_true", help="passer chaque paquet à sa dernière version")
    args = parser.parse_args(argv)
    if args.command == "update":
        try:
            update(args.root, args.uv, args.upgrade)
        except (LockError, OSError) as exc:
            print(f"lockfile : {exc}", file=sys.stderr)
            return 1
    found = problems(args.root)
    for problem in found:
        print(f"lockfile : {problem}", file=sys.stderr)
    if not found and args.command == "update":
        print(f"{LOCK_NAME} refait : vérifiez le diff, puis ajoutez-le au commit")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
