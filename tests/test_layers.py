"""The layer contract (tests/support/layers.py) holds on the tree, and fails on a wrong import."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.layers import PACKAGES, place, violations

REPO = Path(__file__).resolve().parents[1]


def copy_tree(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def name_of(module: str) -> str:
    found = place(module)
    assert found is not None, module
    return found.name


def test_the_tree_holds_the_layers() -> None:
    assert violations(REPO) == []


def test_every_package_has_its_layer() -> None:
    assert [name_of(p) for p in ("halfday.cli", "kiosk.app", "access.daemon.door", "sync.agent", "sync.hub.web")] == [
        "composition",
        "applications",
        "applications",
        "applications",
        "applications",
    ]
    assert [name_of(p) for p in ("sync.localbus", "sync.protocol", "access.policy", "common.db", "hardware.gpio")] == [
        "contracts",
        "contracts",
        "domain",
        "foundation",
        "hardware",
    ]


def test_an_import_upwards_fails(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    add_line(root / "hardware" / "gpio.py", "from kiosk.app import create_app  # noqa")
    add_line(root / "access" / "ledger.py", "    import access.daemon.door  # inside a function counts too")
    problems = violations(root)
    assert len(problems) == 2, problems
    assert "hardware/gpio.py" in problems[0] or "hardware/gpio.py" in problems[1]
    assert any("access/ledger.py" in p and "domain layer may not import the applications layer" in p for p in problems)


def test_two_applications_may_not_import_each_other(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    add_line(root / "kiosk" / "live.py", "from sync.agent import SyncAgent")
    assert violations(root) == [
        "kiosk/live.py:"
        + str(len((REPO / "kiosk" / "live.py").read_text().splitlines()) + 2)
        + ": kiosk.live imports sync.agent: two applications may not import each other"
    ]


def test_the_hub_reaches_nothing_of_the_appliance_even_indirectly(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    # Allowed by the layers alone (the contracts sit above the domain), refused by the hub's own rule.
    add_line(root / "sync" / "payloads.py", "from access.ledger import slot_at")
    problems = violations(root)
    assert problems, "the hub reached access.ledger through sync.payloads and nothing said so"
    assert all("the hub reaches the appliance's access.ledger" in p for p in problems), problems
    assert any("sync.payloads -> access.ledger" in p for p in problems)
