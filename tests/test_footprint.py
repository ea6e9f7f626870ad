"""What the processes that run all day hold in memory (bench.startup measures it): each daemon starts through the
`halfday` command without the management commands' modules, and without libraries it only needs now and then."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What each daemon's process must not have imported once started: the CLI's modules, cryptography where no
# signature is checked, Babel's dates where no notice is written, SQLAlchemy's PostgreSQL dialect on SQLite.
ABSENT = {
    "door": ("halfday.cli", "access.admin", "access.backup", "cryptography", "babel", "sqlalchemy.dialects.postgresql"),
    "kiosk": ("halfday.cli", "access.backup", "access.restore", "cryptography", "sqlalchemy.dialects.postgresql"),
    "sync": ("halfday.cli", "access.admin", "access.backup", "cryptography", "babel", "sqlalchemy.dialects.postgresql"),
}

PROBE = """
import importlib, json, sys
from halfday import command
module, _, func = command.RUNNERS[sys.argv[1]].partition(":")
getattr(importlib.import_module(module), func)  # what `halfday NAME` imports before it runs NAME
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("daemon", sorted(ABSENT))
def test_a_daemon_starts_without_what_it_does_not_use(daemon: str) -> None:
    shown = subprocess.run([sys.executable, "-c", PROBE, daemon], capture_output=True, text=True, check=True)
    loaded = json.loads(shown.stdout)
    held = [name for name in ABSENT[daemon] if any(m == name or m.startswith(name + ".") for m in loaded)]
    assert held == [], f"halfday {daemon} holds {held}"
