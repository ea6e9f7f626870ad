"""requirements.lock and its check (install/lockfile.py, run by `make lock-check` before the tests and by the
installer): a change to pyproject.toml's dependencies without a new lock is caught, offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

REPO = Path(__file__).resolve().parents[2]
LOCKFILE = REPO / "install" / "lockfile.py"
STALE = "n'a pas été fait pour les dépendances actuelles de pyproject.toml"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOCKFILE), "--root", str(root), "check"], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repository's pyproject.toml and requirements.lock, with the Makefile and the check."""
    for name in ("pyproject.toml", "requirements.lock", "Makefile", "install/lockfile.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def change_pyproject(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite project's pyproject.toml with `change` applied to its data (its layout is tomli_w's afterwards)."""
    path = project / "pyproject.toml"
    data = tomllib.loads(path.read_text())
    change(data)
    path.write_text(tomli_w.dumps(data))


def dependencies(data: dict[str, Any]) -> list[str]:
    found: list[str] = data["project"]["dependencies"]
    return found


def add_requests(data: dict[str, Any]) -> None:
    dependencies(data).append("requests>=2")


def remove_last(data: dict[str, Any]) -> None:
    dependencies(data).pop()


def narrow_first_range(data: dict[str, Any]) -> None:
    deps = dependencies(data)
    deps[0] = deps[0].replace(">=", ">", 1) if ">=" in deps[0] else f"{deps[0]},!=0.0.1"


def add_an_extra(data: dict[str, Any]) -> None:
    deps = dependencies(data)
    deps[0] = re.sub(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?", r"\1[toolkit]", deps[0], count=1)


def newer_python(data: dict[str, Any]) -> None:
    data["project"]["requires-python"] = ">=3.12"


def another_build_requirement(data: dict[str, Any]) -> None:
    data["build-system"]["requires"].append("wheel")


def test_the_repositorys_lock_fits_its_pyproject() -> None:
    result = check(REPO)
    assert result.returncode == 0, result.stderr


def test_every_locked_requirement_is_pinned_with_hashes() -> None:
    text = (REPO / "requirements.lock").read_text()
    # One entry per requirement, each starting at the beginning of a line with its name.
    entries = [entry for entry in re.split(r"\n(?=[a-z0-9])", text) if re.match(r"[a-z0-9][a-z0-9._-]*==", entry)]
    hashes = {entry.split("==")[0]: entry.count("--hash=sha256:") for entry in entries}
    assert hashes and min(hashes.values()) >= 1
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {re.split(r"[\[<>=!~; ]", requirement)[0].lower() for requirement in dependencies} <= set(hashes)
    assert "setuptools" in hashes  # the build backend too: the installer builds halfday with it, not a fetched one
    # Every file of a version, not only this machine's: a compiled dependency lists its wheels for many platforms.
    assert hashes["cryptography"] >= 10


@pytest.mark.parametrize(
    "change",
    [add_requests, remove_last, narrow_first_range, add_an_extra, newer_python, another_build_requirement],
    ids=["added", "removed", "range", "extra", "python", "build"],
)
def test_a_changed_dependency_list_is_caught(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    change_pyproject(project, change)
    result = check(project)
    assert result.returncode == 1
    assert STALE in result.stderr and "make lock" in result.stderr


def test_a_new_dependency_is_also_named(project: Path) -> None:
    change_pyproject(project, add_requests)
    assert "requests>=2 (pyproject.toml, dependencies) n'est pas dans requirements.lock" in check(project).stderr


def test_order_layout_and_spacing_are_not_a_change(project: Path) -> None:
    def reorder(data: dict[str, Any]) -> None:
        data["project"]["dependencies"] = [d.replace(",", " , ") for d in reversed(dependencies(data))]

    change_pyproject(project, reorder)
    result = check(project)
    assert result.returncode == 0, result.stderr


def unpin(text: str, name: str) -> str:
    return text.replace(f"\n{name}==", f"\n{name}>=", 1)


def unhash(text: str, name: str) -> str:
    return re.sub(
        rf"\n{re.escape(name)}==(\S+)( ;[^\\\n]*)? \\\n(    --hash=\S+( \\)?\n)+", r"\n" + name + r"==\1\2\n", text
    )


def other_index(text: str, name: str) -> str:
    return text.replace(f"\n{name}==", f"\n--extra-index-url https://example.org/simple\n{name}==", 1)


@pytest.mark.parametrize(
    ("edit", "said"),
    [(unpin, "{} n'est pas épinglé avec =="), (unhash, "{} n'a pas d'empreinte sha256"), (other_index, "option")],
    ids=["unpinned", "unhashed", "other-index"],
)
def test_a_hand_edited_lock_is_caught(project: Path, edit: Callable[[str, str], str], said: str) -> None:
    lock = project / "requirements.lock"
    first = re.search(r"^([a-z0-9][a-z0-9._-]*)==", lock.read_text(), re.MULTILINE)
    assert first
    edited = edit(lock.read_text(), first.group(1))
    assert edited != lock.read_text()
    lock.write_text(edited)
    result = check(project)
    assert result.returncode == 1 and said.format(first.group(1)) in result.stderr, result.stderr


def test_make_stops_before_the_tests_with_the_reason(project: Path) -> None:
    change_pyproject(project, narrow_first_range)
    result = subprocess.run(
        ["make", "--no-print-directory", "lock-check", f"PYTHON={sys.executable}"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert STALE in result.stderr
    order = re.search(r"^test: (.*)$", (REPO / "Makefile").read_text(), re.M)
    assert order and order.group(1).split().index("lock-check") < order.group(1).split().index("unit")


FAKE_UV = """
import sys, tomllib
from pathlib import Path
args = sys.argv[1:]
Path("uv-args.txt").write_text("\\n".join(args))
requirements = tomllib.loads(Path("pyproject.toml").read_text())["project"]["dependencies"]
requirements += Path("build-system.txt").read_text().split()
out = ""
for requirement in requirements:
    name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0]
    out += f"{name}==1.0 \\\\\\n    --hash=sha256:{'0' * 64}\\n    # via -r build-system.txt\\n"
Path(args[args.index("--output-file") + 1]).write_text(out)
"""


def test_update_resolves_for_every_platform_and_records_the_digest(project: Path) -> None:
    # uv is not run here (it needs PyPI): a stand-in writes a lock from what it is given, and keeps its arguments.
    uv = project / "fake-uv"
    uv.write_text(f"#!{sys.executable}\n{FAKE_UV}")
    uv.chmod(0o755)
    change_pyproject(project, add_requests)
    assert check(project).returncode == 1
    result = subprocess.run(
        [sys.executable, str(LOCKFILE), "--root", str(project), "update", "--uv", str(uv)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert check(project).returncode == 0
    lock = (project / "requirements.lock").read_text()
    assert lock.startswith("# The appliance's Python dependencies") and "make lock" in lock
    assert "requests==1.0" in lock and "-r build-system.txt" not in lock


def test_update_asks_uv_for_a_universal_lock_with_hashes(project: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    uv = project / "fake-uv"
    uv.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >{calls}\nexit 1\n')
    uv.chmod(0o755)
    result = subprocess.run(
        [sys.executable, str(LOCKFILE), "--root", str(project), "update", "--uv", str(uv), "--upgrade"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "uv n'a pas pu résoudre" in result.stderr
    args = calls.read_text().split()
    assert args[:4] == ["pip", "compile", "pyproject.toml", "build-system.txt"]
    for option in ("--universal", "--generate-hashes", "--upgrade"):
        assert option in args
    assert args[args.index("--python-version") + 1] == "3.11"
    # A failed resolution leaves the lock as it was.
    assert (project / "requirements.lock").read_text() == (REPO / "requirements.lock").read_text()
