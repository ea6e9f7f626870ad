"""Every public form and route of the touchscreen, fed whatever a visitor (or a script on the screen's browser)
could send: any method, any path under the touchscreen's, any fields, any text, a good, a stale or no form token.

Two properties, checked on each request: the kiosk never answers 500, and a request it refuses changes nothing
in the ledger. The only change allowed is a sale that went through (a redirect to the pass's page), and it adds
exactly one pass and one sale.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import urllib.parse
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.words import PlanKind
from kiosk.vouchers import allocate_serials, voucher_book
from tests.support.site import Site

KINDS = ["pass_halfday", "pass_day", "card", "carnet", "unlimited", ""]
FIELDS = ["name", "email", "provider", "voucher", "card_token", "code", "card", "csrf_token", "kind", "pass"]
PATHS = [
    "/",
    "/?idle=1",
    "/buy",
    "/buy/{kind}",
    "/buy/card",
    "/pass/{text}",
    "/code",
    "/events",
    "/lang/{text}",
    "/{text}",
    "/buy/{text}",
]
METHODS = ["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def visible_text() -> st.SearchStrategy[str]:
    """What a keyboard, a paste or a script can put in a field: any text, control characters and all."""
    return st.one_of(
        st.text(max_size=80),
        st.sampled_from(["", " ", "0" * 6, "123456", "=cmd|' /C calc'!A0", "<script>x</script>", "\x00", "é" * 300]),
        st.from_regex(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", fullmatch=True),
    )


Request = tuple[str, str, dict[str, str] | bytes, str]


@st.composite
def sales(draw: st.DrawFn, valid_vouchers: list[str]) -> Request:
    """A purchase as the form sends it, with fields a walk-in could fill in any way."""
    kind = draw(st.sampled_from(["pass_halfday", "pass_day"]))
    name = draw(st.text(st.characters(categories=["L", "Zs", "Pd"]), min_size=1, max_size=60) | visible_text())
    body = {"name": name, "email": draw(st.emails() | visible_text())}
    body["provider"] = draw(st.sampled_from(["counter", "voucher"]))
    if body["provider"] == "voucher":
        body["voucher"] = draw(st.sampled_from(valid_vouchers) | visible_text())
    if draw(st.booleans()):
        body["card_token"] = draw(visible_text())
    return "POST", f"/buy/{kind}", body, draw(st.sampled_from(["valid", "valid", "missing", "garbage"]))


@st.composite
def anything(draw: st.DrawFn, valid_vouchers: list[str]) -> Request:
    """Any method on any path of the touchscreen's, with any body."""
    method = draw(st.sampled_from(METHODS))
    template = draw(st.sampled_from(PATHS))
    path = template.format(
        kind=draw(st.sampled_from(KINDS)),
        text=urllib.parse.quote(draw(st.text(min_size=1, max_size=40)), safe=""),
    )
    body: dict[str, str] | bytes
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.binary(max_size=2000))  # not a form at all
    else:
        keys = draw(st.lists(st.sampled_from(FIELDS), max_size=len(FIELDS), unique=True))
        body = {key: draw(visible_text()) for key in keys}
        if draw(st.booleans()):
            body.update(name=draw(visible_text()), email=draw(st.emails() | visible_text()))
            body["provider"] = draw(st.sampled_from(["counter", "voucher", "card", ""]))
            if draw(st.booleans()) and valid_vouchers:
                body["voucher"] = draw(st.sampled_from(valid_vouchers))
        if draw(st.integers(0, 20)) == 0:
            body["name"] = "x" * 70_000  # beyond the kiosk's form limit
    token = draw(st.sampled_from(["valid", "valid", "valid", "missing", "garbage"]))
    return method, path, body, token


def ledger_state(database: Path) -> dict[str, object]:
    """Every table's row count, and the meta table whole (what a sale or a refusal could have touched)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        state: dict[str, object] = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        state["meta"] = sorted(conn.execute("SELECT key, value FROM meta").fetchall())
    return state


def mint_vouchers(site: Site, count: int) -> list[str]:
    book = voucher_book(site.config)
    with site.db.write() as session:
        serials = allocate_serials(session, count)
    return [book.mint(PlanKind.PASS_HALFDAY, serial).printed for serial in serials]


def form_token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/code").text)
    assert found is not None
    return found.group(1)


def test_no_request_at_the_touchscreen_breaks_it_or_changes_what_it_refused(app: Flask, site: Site) -> None:
    database = Path(site.config.database_url.removeprefix("sqlite:///"))
    vouchers = mint_vouchers(site, 10)
    client = app.test_client()
    token = form_token(client)
    sold_count = {"count": 0}

    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    @given(request=st.one_of(anything(vouchers), sales(vouchers)))
    def one_request(request: Request) -> None:
        method, path, body, token_kind = request
        if isinstance(body, dict):
            if token_kind == "valid":
                body = {**body, "csrf_token": token}
            elif token_kind == "garbage":
                body = {**body, "csrf_token": "x" + token[1:]}
            else:
                body = {k: v for k, v in body.items() if k != "csrf_token"}
        before = ledger_state(database)
        answer = client.open(path, method=method, data=body)
        try:
            assert answer.status_code < 500, (method, path, answer.status_code)
            if answer.mimetype != "text/event-stream":
                text = answer.get_data(as_text=True)
                assert "Traceback" not in text
        finally:
            answer.close()  # an event stream gives its place back
        after = ledger_state(database)
        sold = answer.status_code == 302 and "/pass/" in answer.headers.get("Location", "")
        if sold:
            sold_count["count"] += 1
            assert after["passes"] == int(str(before["passes"])) + 1
            assert after["sales"] == int(str(before["sales"])) + 1
        else:
            assert after == before, (method, path, answer.status_code)

    one_request()
    assert app.extensions["halfday.kiosk"].live.listeners == 0
    # The fuzzing reached the sales themselves, not only the refusals in front of them.
    assert sold_count["count"] > 0
