"""The appliance's processes at rest hold only what they use: no Alembic, no PDF writer (bench.startup's memory).

Each of these weighs 11 to 23 MB per process; the schema check and the receipts load them when asked, not before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from access.db import alembic_config, current_revision, head_revision, migrate

HEAVY = ("alembic", "mako", "fpdf", "fontTools", "PIL")


@pytest.mark.parametrize(
    "module",
    [
        "access.daemon.door",
        "sync.agent",
        "kiosk.serve",
        "kiosk.app",
        "kiosk.receipts",
        "kiosk.admin.backups",
        "access.backup",
    ],
)
def test_a_daemon_imports_no_migration_tool_nor_pdf_writer(module: str) -> None:
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [name for name in HEAVY if name in loaded] == []


def test_the_schema_check_reads_the_same_head_and_revision_as_alembic(tmp_path: Path) -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert current_revision(url) is None  # an empty file: never migrated
    assert migrate(url) == head_revision()
    assert current_revision(url) == head_revision()


def test_a_migration_that_is_not_the_newest_is_not_taken_for_the_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(url)
    from alembic import command

    command.downgrade(alembic_config(url), "-1")
    assert current_revision(url) not in (None, head_revision())
