"""`halfday kiosk`: serving with waitress, setting the manager's password, minting vouchers."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from werkzeug.security import check_password_hash

from access.db import Database
from halfday import sample
from halfday.cli import main as halfday
from kiosk.auth import stored_password_hash
from kiosk.serve import main
from kiosk.vouchers import voucher_book
from tests.support.broker import free_port
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until


def test_password_from_stdin_is_stored_hashed(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(MANAGER_PASSWORD + "\n"))
    assert main(["--config", str(site.config_path), "password"]) == 0
    with site.db.read() as s:
        stored = stored_password_hash(s)
    assert stored is not None and check_password_hash(stored, MANAGER_PASSWORD)


def test_a_short_password_is_refused_and_nothing_stored(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("abc\n"))
    assert main(["--config", str(site.config_path), "password"]) == 1
    assert "au moins 8 caractères" in capsys.readouterr().err
    with site.db.read() as s:
        assert stored_password_hash(s) is None


def test_vouchers_are_minted_through_the_halfday_command(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["kiosk", "--config", str(site.config_path), "vouchers", "--count", "3", "--kind", "day"]
    assert halfday(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    book = voucher_book(site.config)
    vouchers = [book.verify(line.split()[0]) for line in lines]
    assert [v.serial for v in vouchers] == [0, 1, 2] and {v.kind for v in vouchers} == {"pass_day"}
    assert halfday(args[:-2]) == 0  # the next batch continues the serial numbers
    assert book.verify(capsys.readouterr().out.split()[0]).serial == 3


def test_a_database_at_another_schema_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.db"
    Database(f"sqlite:///{empty}").dispose()
    config = tmp_path / "halfday.toml"
    sample.write_config(config, sample.site_config(empty, "udp:127.0.0.1:9"))
    assert main(["--config", str(config), "vouchers", "--count", "1"]) == 1
    assert "halfday migrate" in capsys.readouterr().err


def test_halfday_kiosk_serves_and_stops_on_sigterm(site: Site) -> None:
    port = free_port()
    site.reconfigure({"kiosk": {"port": port}})
    process = subprocess.Popen(
        [sys.executable, "-m", "halfday.cli", "kiosk", "--config", str(site.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    return response.status == 200 and "Badgez ou achetez un pass" in response.read().decode()
            except OSError:
                return False

        assert wait_until(answers, timeout=20, period=0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
