"""The manager's backups page: whether the last backup worked, a backup now, each copy to download, what to do when
the SD card dies; a failed backup said plainly; nothing of it without the manager's login. Audited by axe at every
size, in French and English."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from kiosk.serve import KioskServer
from tests.kiosk.test_admin import log_in
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll
from tests.support.site import Site


def backups_of(site: Site) -> Path:
    return Path(site.config.database_url.removeprefix("sqlite:///")).parent / "backups"


@pytest.mark.parametrize("name", list(SIZES))
def test_the_manager_backs_up_now_and_downloads_the_copy(
    name: str, site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    kiosk = start_kiosk()
    width, height = SIZES[name]
    page = open_page({"width": width, "height": height})
    log_in(page, kiosk, site, "/admin/backups")
    expect(page.locator("#backup-status")).to_contain_text("Aucune sauvegarde n'a encore été faite.")
    expect(page.locator("#backup-status")).to_contain_text("Aucune clé USB n'est réglée")
    page.click("#backup-now button")
    expect(page.locator(".alert-ok")).to_contain_text("Sauvegarde faite et vérifiée : ledger-")
    expect(page.locator("#backup-status .state.good")).to_contain_text("Dernière sauvegarde réussie")
    expect(page.locator("#backups tbody tr[data-backup]")).to_have_count(1)
    (made,) = backups_of(site).glob("ledger-*.db")
    for lang in ("fr", "en"):
        page.click(f"nav.languages a[lang='{lang}']")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        what = f"admin backups page ({lang}) at {width}x{height}"
        assert_no_horizontal_scroll(page, what)
        assert_accessible(page, what)
    expect(page.locator("#backup-status")).to_contain_text("Last successful backup")
    with page.expect_download() as download:
        page.click(f"#backups a[href$='{made.name}']")
    assert Path(download.value.path()).read_bytes() == made.read_bytes()


def test_a_failed_backup_is_said_plainly(
    site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page], tmp_path: Path
) -> None:
    config = site.reconfigure({"backup": {"usb_folder": str(tmp_path / "stick")}})
    kiosk = start_kiosk(config=config)
    page = open_page({"width": 1366, "height": 768})
    log_in(page, kiosk, site, "/admin/backups")
    page.click("#backup-now button")
    expect(page.locator(".alert-error")).to_contain_text("la clé USB n'est pas branchée")
    expect(page.locator("#backup-status .state.bad")).to_contain_text("La dernière sauvegarde a échoué")
    assert_accessible(page, "admin backups page, failed")


def test_no_backup_without_the_managers_login(
    site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    kiosk = start_kiosk()
    stranger = open_page({"width": 390, "height": 844}).request  # someone on the space's Wi-Fi, not signed in
    backups_of(site).mkdir()
    copy = backups_of(site) / "ledger-20261129T033000Z.db"
    copy.write_bytes(Path(site.config.database_url.removeprefix("sqlite:///")).read_bytes())
    for path in ("/admin/backups", f"/admin/backups/{copy.name}"):
        response = stranger.get(kiosk.url + path, max_redirects=0)
        assert response.status == 302 and "/admin/login" in response.headers["location"]
        assert b"SQLite format" not in response.body()
    response = stranger.post(kiosk.url + "/admin/backups/now")
    assert response.status in (400, 401)
    assert sorted(p.name for p in backups_of(site).iterdir()) == [copy.name]  # nothing made


def test_only_a_backup_can_be_downloaded(
    site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    kiosk = start_kiosk()
    page = open_page({"width": 1366, "height": 768})
    log_in(page, kiosk, site, "/admin/backups")
    backups_of(site).mkdir(exist_ok=True)
    (backups_of(site) / "status.json").write_text("{}")
    for name in ("status.json", "..%2Fhalfday.toml", "..%2F..%2Fetc%2Fpasswd", "halfday.db"):
        response = page.request.get(kiosk.url + f"/admin/backups/{name}")
        assert response.status == 404, name
        assert not re.search(rb"SQLite format|\[site\]|root:", response.body()), name
