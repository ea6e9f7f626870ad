"""The protocol's pure checks: topics, payload schemas, signatures of rosters and commands, nonces, keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.localbus import SyncStatus
from sync.payloads import (
    DoorHealth,
    RosterHealth,
    event_data_problem,
    make_batch,
    make_request,
    make_status,
    validate_ack,
    validate_batch,
    validate_command_body,
    validate_request,
    validate_status,
)
from sync.protocol import COMMAND_NAMES, ProtocolError, canonical_json, parse_topic, roster_topic, utc_iso
from sync.signing import (
    SIGNATURE_BYTES,
    MemoryNonceStore,
    StaleRoster,
    check_command,
    generate_private_key,
    load_private_key,
    load_public_key,
    make_command,
    public_key_b64,
    save_private_key,
    sign,
    sign_roster,
    verify_roster,
)
from tests.sync.devicesim import make_event

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
MEMBER = "a" * 32
PLAN = "b" * 32
SUB = "c" * 32
KEY = generate_private_key()


def batch(events: list[dict[str, Any]], site: str = "site-a", device: str = "door-1") -> bytes:
    return make_batch(site, device, events)


def roster_body(version: int = 2) -> dict[str, Any]:
    return {
        "v": 1,
        "site": "site-a",
        "version": version,
        "issued_at": utc_iso(NOW),
        "seen": {"door-1": 12},
        "members": [{"id": MEMBER, "first_name": "Zoé", "last_name": "Martin", "email": None, "active": True}],
        "credentials": [
            {"id": "d" * 32, "member_id": MEMBER, "kind": "nfc_uid", "value": "A1B2C3D4", "status": "active"}
        ],
        "plans": [
            {
                "id": PLAN,
                "name": "Carnet 10",
                "kind": "carnet",
                "half_days": 10,
                "allow_overdraft": False,
                "hours_start": None,
                "hours_end": "20:00",
                "price_cents": 9000,
            }
        ],
        "subscriptions": [
            {
                "id": SUB,
                "member_id": MEMBER,
                "plan_id": PLAN,
                "valid_from": "2026-11-01",
                "valid_until": None,
                "balance": 7,
            }
        ],
    }


# ---------------------------------------------------------------------------------------------- topics


def test_topics_parse_back_and_foreign_topics_are_refused() -> None:
    topic = parse_topic("halfday/v1/site-a/door-1/events")
    assert (topic.site, topic.device, topic.kind) == ("site-a", "door-1", "events")
    assert parse_topic(roster_topic("site-a")).device is None
    for bad in ("halfday/v1/site-a/door-1/other", "halfday/v2/a/b/events", "halfday/v1/Site/door/events", "x"):
        with pytest.raises(ProtocolError):
            parse_topic(bad)


# ---------------------------------------------------------------------------------------------- batches


def test_a_good_batch_passes_and_names_must_match_the_topic() -> None:
    events = [make_event("site-a", "door-1", seq) for seq in (1, 2, 3)]
    assert len(validate_batch(batch(events), "site-a", "door-1")["events"]) == 3
    with pytest.raises(ProtocolError, match="topic"):
        validate_batch(batch(events), "site-b", "door-1")
    other = [make_event("site-a", "door-2", 4)]
    with pytest.raises(ProtocolError, match="autre site ou appareil"):
        validate_batch(batch(events + other))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.update(seq=True), "seq"),
        (lambda e: e.update(seq=0), "seq"),
        (lambda e: e.update(id="XYZ"), "id"),
        (lambda e: e.pop("boot"), "boot"),
        (lambda e: e.update(at="2026-11-23 08:00:00"), "at"),
        (lambda e: e.update(at="2026-13-23T08:00:00Z"), "at"),
        (lambda e: e.update(clock_ok="yes"), "clock_ok"),
        (lambda e: e.update(data=[]), "data"),
        (lambda e: e.update(kind="Entry!"), "kind"),
        (lambda e: e.update(v=2), "v"),
    ],
)
def test_a_bad_event_envelope_rejects_the_batch(change: Any, problem: str) -> None:
    event = make_event("site-a", "door-1", 1)
    change(event)
    with pytest.raises(ProtocolError, match=problem):
        validate_batch(batch([event]))


def test_seq_must_increase_and_batches_are_bounded() -> None:
    with pytest.raises(ProtocolError, match="n'augmente pas"):
        validate_batch(batch([make_event("site-a", "door-1", 2), make_event("site-a", "door-1", 2)]))
    with pytest.raises(ProtocolError, match="vide"):
        validate_batch(batch([]))
    with pytest.raises(ProtocolError, match="au plus 1000"):
        validate_batch(batch([make_event("site-a", "door-1", s) for s in range(1, 1002)]))


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe",
        b"[]",
        b'{"v":1,"site":"site-a","device":"door-1","events":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b'{"v":NaN}',
        b'{"v":1,"site":"site-a\\u0000","device":"d","events":[]}',
        b'{"v":1,"site":"\\ud800","device":"d","events":[]}',
        b'{"v":1e400}',
        b"x" * (2 << 20),
    ],
)
def test_hostile_bytes_give_a_protocol_error_only(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        validate_batch(payload)


def test_an_escaped_emoji_is_fine() -> None:
    event = make_event("site-a", "door-1", 1, "enrol", {"uid": "😀"})
    raw = json.dumps({"v": 1, "site": "site-a", "device": "door-1", "events": [event]}).encode()
    assert b"\\ud83d" in raw
    assert validate_batch(raw)["events"][0]["data"]["uid"] == "😀"


def test_known_kinds_check_their_data_and_unknown_kinds_pass() -> None:
    use = {"date": "2026-11-23", "slot": "morning", "spent": 1, "subscription": SUB, "pass": None}
    entry = {"uid": "A1B2C3D4", "holder": MEMBER, "granted": True, "reason": "carnet", "plan": PLAN, "use": use}
    assert event_data_problem("entry", entry) is None
    assert "slot" in (event_data_problem("entry", {**entry, "use": {**use, "slot": "evening"}}) or "")
    assert "spent" in (event_data_problem("entry", {**entry, "use": {**use, "spent": 2}}) or "")
    assert event_data_problem("alarm", {"type": "forced", "active": True}) is None
    assert event_data_problem("alarm", {"type": "fire", "active": True}) is not None
    assert event_data_problem("teleport", {"anything": [1, 2]}) is None


def test_acks_status_and_requests() -> None:
    assert validate_ack(b'{"v":1,"seq":42}') == 42
    with pytest.raises(ProtocolError):
        validate_ack(b'{"v":1,"seq":-1}')
    online = make_status("site-a", "door-1", "online", at=NOW, backlog=3, last_seq=10, acked_seq=7, roster_version=2)
    assert validate_status(online, "site-a", "door-1")["backlog"] == 3
    assert validate_status(make_status("site-a", "door-1", "offline"))["state"] == "offline"
    with pytest.raises(ProtocolError):
        validate_status(online, "site-a", "door-2")
    request = {
        "v": 1,
        "site": "site-a",
        "device": "door-1",
        "id": "e" * 32,
        "at": utc_iso(NOW),
        "kind": "enrol_badge",
        "data": {"member_id": MEMBER, "uid": "04A1B2C3D4E5F6"},
    }
    assert validate_request(json.dumps(request))["kind"] == "enrol_badge"
    with pytest.raises(ProtocolError, match="uid"):
        validate_request(json.dumps({**request, "data": {"member_id": MEMBER, "uid": "a1b2"}}))


def request_of(kind: str, data: dict[str, Any]) -> bytes:
    body = {"v": 1, "site": "site-a", "device": "door-1", "id": "e" * 32, "at": utc_iso(NOW), "kind": kind}
    return json.dumps({**body, "data": data}).encode()


TOP_UP = {"subscription_id": SUB, "half_days": 10, "amount_cents": 9000, "provider": "counter"}


def test_a_top_up_request_passes_and_is_made_as_checked() -> None:
    assert validate_request(request_of("top_up", TOP_UP), "site-a", "door-1")["data"] == TOP_UP
    free = {**TOP_UP, "half_days": 1000, "amount_cents": 0, "provider": "voucher"}
    assert validate_request(request_of("top_up", free))["data"]["provider"] == "voucher"
    made = make_request("site-a", "door-1", "f" * 32, NOW, "top_up", TOP_UP)
    assert json.loads(made) == {
        "v": 1,
        "site": "site-a",
        "device": "door-1",
        "id": "f" * 32,
        "at": utc_iso(NOW),
        "kind": "top_up",
        "data": TOP_UP,
    }
    with pytest.raises(ProtocolError, match="half_days"):
        make_request("site-a", "door-1", "f" * 32, NOW, "top_up", {**TOP_UP, "half_days": 0})


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"half_days": 0}, "half_days"),
        ({"half_days": 1001}, "half_days"),
        ({"half_days": True}, "half_days"),
        ({"half_days": "10"}, "half_days"),
        ({"half_days": 2.5}, "half_days"),
        ({"amount_cents": -1}, "amount_cents"),
        ({"amount_cents": 90.5}, "amount_cents"),
        ({"amount_cents": 10_000_001}, "amount_cents"),
        ({"amount_cents": None}, "amount_cents"),
        ({"provider": "card"}, "provider"),
        ({"provider": None}, "provider"),
        ({"subscription_id": "not-an-id"}, "subscription_id"),
    ],
)
def test_a_bad_top_up_is_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        validate_request(request_of("top_up", {**TOP_UP, **change}))


@pytest.mark.parametrize("missing", sorted(TOP_UP))
def test_a_top_up_missing_a_field_is_refused(missing: str) -> None:
    data = {k: v for k, v in TOP_UP.items() if k != missing}
    with pytest.raises(ProtocolError, match=missing):
        validate_request(request_of("top_up", data))


def test_the_older_kinds_are_unchanged_and_unknown_kinds_refused() -> None:
    member = {"member_id": MEMBER, "first_name": "Zoé", "last_name": "Martin", "email": None, "uid": None}
    assert validate_request(request_of("add_member", member))["data"]["uid"] is None
    assert validate_request(request_of("add_member", {**member, "uid": "04A1B2C3"}))["data"]["uid"] == "04A1B2C3"
    with pytest.raises(ProtocolError, match="last_name"):
        validate_request(request_of("add_member", {k: v for k, v in member.items() if k != "last_name"}))
    with pytest.raises(ProtocolError, match="kind"):
        validate_request(request_of("revoke_badge", {"member_id": MEMBER}))


ENROL_ARGS = {"member_id": MEMBER, "request": "f" * 32, "timeout_s": 60}


def test_the_enrol_command_is_signed_checked_and_accepted_once() -> None:
    assert COMMAND_NAMES == ("unlock", "send_status", "enrol", "book")
    key = generate_private_key()
    store = MemoryNonceStore()
    command = make_command(key, "site-a", "door-1", "enrol", NOW, ttl_s=30, args=ENROL_ARGS)
    checked = check_command(command, key.public_key(), "site-a", "door-1", NOW, store)
    assert (checked["name"], checked["args"]) == ("enrol", ENROL_ARGS)
    for timeout in (10, 300):
        assert validate_command_body({**command, "args": {**ENROL_ARGS, "timeout_s": timeout}})["args"]
    with pytest.raises(ProtocolError, match="rejouée"):
        check_command(command, key.public_key(), "site-a", "door-1", NOW, store)
    forged = {**command, "args": {**ENROL_ARGS, "member_id": "b" * 32}}
    with pytest.raises(ProtocolError, match="contrefaite"):
        check_command(forged, key.public_key(), "site-a", "door-1", NOW, MemoryNonceStore())


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({**ENROL_ARGS, "timeout_s": 9}, "timeout_s"),
        ({**ENROL_ARGS, "timeout_s": 301}, "timeout_s"),
        ({**ENROL_ARGS, "timeout_s": True}, "timeout_s"),
        ({**ENROL_ARGS, "timeout_s": 30.5}, "timeout_s"),
        ({**ENROL_ARGS, "timeout_s": "30"}, "timeout_s"),
        ({**ENROL_ARGS, "member_id": "A" * 32}, "member_id"),
        ({**ENROL_ARGS, "request": None}, "request"),
        ({"member_id": MEMBER, "timeout_s": 30}, "request"),
        ({}, "member_id"),
    ],
)
def test_an_enrol_command_with_bad_args_is_refused_even_when_signed(args: dict[str, Any], problem: str) -> None:
    key = generate_private_key()
    with pytest.raises(ProtocolError, match=problem):
        make_command(key, "site-a", "door-1", "enrol", NOW, args=args)
    body = {
        "v": 1,
        "site": "site-a",
        "device": "door-1",
        "name": "enrol",
        "nonce": "9" * 32,
        "expires": utc_iso(NOW + dt.timedelta(seconds=30)),
        "args": args,
    }
    with pytest.raises(ProtocolError, match=problem):
        check_command(sign(body, key), key.public_key(), "site-a", "door-1", NOW, MemoryNonceStore())


def test_status_carries_the_doors_health_and_an_older_status_still_passes() -> None:
    health = DoorHealth(NOW, True, "open", ("forced", "reader"), "absent")
    online = make_status("site-a", "door-1", "online", at=NOW, backlog=3, last_seq=10, acked_seq=7, health=health)
    status = validate_status(online, "site-a", "door-1")
    assert (status["oldest_unsent_at"], status["clock_ok"], status["door"], status["alarms"], status["reader"]) == (
        utc_iso(NOW),
        True,
        "open",
        ["forced", "reader"],
        "absent",
    )
    calm = validate_status(make_status("site-a", "door-1", "online", at=NOW, health=DoorHealth()))
    assert (calm["oldest_unsent_at"], calm["clock_ok"], calm["door"], calm["alarms"], calm["reader"]) == (
        None,
        None,
        None,
        [],
        None,
    )
    # An appliance from before these fields: the hub reads them as unknown.
    older = json.dumps({"v": 1, "site": "site-a", "device": "door-1", "state": "online", "at": utc_iso(NOW)})
    status = validate_status(older)
    assert [status[k] for k in ("oldest_unsent_at", "clock_ok", "door", "alarms", "reader")] == [
        None,
        None,
        None,
        [],
        None,
    ]
    assert validate_status(make_status("site-a", "door-1", "offline"))["alarms"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("door", "ajar"),
        ("door", True),
        ("reader", "broken"),
        ("reader", 1),
        ("clock_ok", "yes"),
        ("clock_ok", 1),
        ("oldest_unsent_at", "2026-11-23 08:00"),
        ("oldest_unsent_at", 12),
        ("alarms", ["fire"]),
        ("alarms", ["forced", "forced"]),
        ("alarms", "forced"),
        ("alarms", [1]),
        ("alarms", ["forced", "held_open", "reader", "database", "clock", "forced"]),
    ],
)
def test_bad_health_in_a_status_is_refused(field: str, value: Any) -> None:
    body = {"v": 1, "site": "site-a", "device": "door-1", "state": "online", "at": utc_iso(NOW), field: value}
    with pytest.raises(ProtocolError, match=field):
        validate_status(json.dumps(body))


def test_status_carries_the_doors_roster_and_an_older_status_still_passes() -> None:
    failed_at = NOW + dt.timedelta(minutes=5)
    roster = RosterHealth(NOW, failed_at, "signature invalide : la liste ne vient pas du hub")
    health = DoorHealth(None, True, "closed", ("roster",), "ok")
    online = make_status("site-a", "door-1", "online", at=NOW, roster_version=4, health=health, roster=roster)
    status = validate_status(online, "site-a", "door-1")
    assert (status["roster_issued_at"], status["roster_failed_at"], status["roster_failure"]) == (
        utc_iso(NOW),
        utc_iso(failed_at),
        "signature invalide : la liste ne vient pas du hub",
    )
    assert status["alarms"] == ["roster"]
    # A reason longer than the contract allows is cut, never refused by the hub for it.
    long = make_status("site-a", "door-1", "online", at=NOW, roster=RosterHealth(None, NOW, "é" * 500))
    assert validate_status(long)["roster_failure"] == "é" * 200
    calm = validate_status(make_status("site-a", "door-1", "online", at=NOW, roster=RosterHealth()))
    assert [calm[k] for k in ("roster_issued_at", "roster_failed_at", "roster_failure")] == [None, None, None]
    older = json.dumps({"v": 1, "site": "site-a", "device": "door-1", "state": "online", "at": utc_iso(NOW)})
    status = validate_status(older)
    assert [status[k] for k in ("roster_issued_at", "roster_failed_at", "roster_failure")] == [None, None, None]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("roster_issued_at", "2026-11-23"),
        ("roster_issued_at", 1_800_000_000),
        ("roster_failed_at", "hier"),
        ("roster_failed_at", True),
        ("roster_failure", 42),
        ("roster_failure", ["signature invalide"]),
        ("roster_failure", "x" * 201),
        ("alarms", ["roster", "roster"]),
    ],
)
def test_a_bad_roster_field_in_a_status_is_refused(field: str, value: Any) -> None:
    body = {"v": 1, "site": "site-a", "device": "door-1", "state": "online", "at": utc_iso(NOW), field: value}
    with pytest.raises(ProtocolError, match=field):
        validate_status(json.dumps(body))


def test_the_local_sync_status_carries_the_roster_and_an_older_agents_still_reads() -> None:
    status = SyncStatus(True, NOW, 0, 4, NOW, NOW + dt.timedelta(minutes=1), "liste pour un autre site", True)
    assert SyncStatus.decode(status.encode()) == status
    older = SyncStatus.decode(b'{"v":1,"online":true,"last_contact":null,"backlog":3,"roster":4}')
    assert older == SyncStatus(True, None, 3, 4)
    assert (older.roster_issued_at, older.roster_failed_at, older.roster_failure, older.roster_stale) == (
        None,
        None,
        None,
        None,
    )
    for bad in ('"roster_stale":"oui"', '"roster_failure":7', '"roster_failed_at":"hier"'):
        with pytest.raises(ValueError, match=bad.split(":")[0].strip('"')):
            SyncStatus.decode(f'{{"v":1,"online":true,{bad}}}'.encode())


# ---------------------------------------------------------------------------------------------- rosters


def test_a_signed_newer_roster_is_accepted() -> None:
    key = generate_private_key()
    signed = sign_roster(roster_body(2), key)
    roster = verify_roster(json.dumps(signed).encode(), key.public_key(), current_version=1, site="site-a")
    assert roster["version"] == 2
    assert verify_roster(signed, public_key_b64(key), None)["members"][0]["first_name"] == "Zoé"


def test_forged_older_equal_and_unsigned_rosters_are_rejected() -> None:
    key = generate_private_key()
    signed = sign_roster(roster_body(5), key)
    forged = {**signed, "subscriptions": [{**signed["subscriptions"][0], "balance": 99}]}
    with pytest.raises(ProtocolError, match="contrefaite"):
        verify_roster(forged, key.public_key(), 1)
    with pytest.raises(ProtocolError, match="contrefaite"):
        verify_roster(sign_roster(roster_body(6), generate_private_key()), key.public_key(), 1)
    with pytest.raises(StaleRoster, match="pas plus récente"):
        verify_roster(signed, key.public_key(), 6)
    with pytest.raises(StaleRoster, match="pas plus récente"):
        verify_roster(signed, key.public_key(), 5)
    unsigned = {k: v for k, v in signed.items() if k != "sig"}
    with pytest.raises(ProtocolError, match="non signé"):
        verify_roster(unsigned, key.public_key(), 1)
    with pytest.raises(ProtocolError, match=r"base64|Ed25519"):
        verify_roster({**signed, "sig": "!!"}, key.public_key(), 1)
    with pytest.raises(ProtocolError, match="site"):
        verify_roster(signed, key.public_key(), 1, site="site-b")


def test_a_signed_roster_with_a_bad_field_is_still_rejected() -> None:
    key = generate_private_key()
    body = roster_body(3)
    body["credentials"][0]["value"] = "not hex"
    with pytest.raises(ProtocolError, match="value"):
        verify_roster(sign(body, key), key.public_key(), 1)


def test_canonical_json_is_the_signed_form() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


# Any JSON a roster may hold: strings of any code point a database keeps (no NUL, no lone surrogate), keys too.
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_canonical_json_is_byte_for_byte_the_documented_form(value: Any) -> None:
    """sync/PROTOCOL.md defines the signed bytes by Python's json module; the hub and the doors make them with
    orjson, which must agree on every value, or a genuine roster would fail to verify."""
    documented = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert canonical_json(value) == documented


# ---------------------------------------------------------------------------------------------- commands


def test_commands_are_accepted_once_and_only_while_valid() -> None:
    key = generate_private_key()
    store = MemoryNonceStore()
    command = make_command(key, "site-a", "door-1", "unlock", NOW, ttl_s=30)
    assert check_command(command, key.public_key(), "site-a", "door-1", NOW, store)["name"] == "unlock"
    with pytest.raises(ProtocolError, match="rejouée"):
        check_command(command, key.public_key(), "site-a", "door-1", NOW, store)
    later = make_command(key, "site-a", "door-1", "unlock", NOW, ttl_s=30)
    with pytest.raises(ProtocolError, match="expirée"):
        check_command(later, key.public_key(), "site-a", "door-1", NOW + dt.timedelta(seconds=31), store)
    far = make_command(key, "site-a", "door-1", "unlock", NOW + dt.timedelta(hours=1), ttl_s=30)
    with pytest.raises(ProtocolError, match="dans plus de"):
        check_command(far, key.public_key(), "site-a", "door-1", NOW, store)
    other = make_command(key, "site-a", "door-2", "unlock", NOW)
    with pytest.raises(ProtocolError, match="pas pour site-a/door-1"):
        check_command(other, key.public_key(), "site-a", "door-1", NOW, store)
    forged = make_command(generate_private_key(), "site-a", "door-1", "unlock", NOW)
    with pytest.raises(ProtocolError, match="contrefaite"):
        check_command(forged, key.public_key(), "site-a", "door-1", NOW, store)


def test_a_full_nonce_store_refuses_rather_than_forgets() -> None:
    key = generate_private_key()
    store = MemoryNonceStore(capacity=2)
    for _ in range(2):
        check_command(make_command(key, "s", "d", "send_status", NOW), key.public_key(), "s", "d", NOW, store)
    with pytest.raises(ProtocolError, match="trop de commandes"):
        check_command(make_command(key, "s", "d", "send_status", NOW), key.public_key(), "s", "d", NOW, store)
    # Once the first two expired they can be forgotten, and a new command gets in.
    later = NOW + dt.timedelta(seconds=61)
    check_command(make_command(key, "s", "d", "send_status", later), key.public_key(), "s", "d", later, store)


# ---------------------------------------------------------------------------------------------- keys


@pytest.mark.parametrize("raw", [False, True])
def test_private_keys_round_trip_and_are_private(tmp_path: Path, raw: bool) -> None:
    key = generate_private_key()
    path = tmp_path / "hub.key"
    path.write_text("old")
    path.chmod(0o644)
    save_private_key(key, path, raw=raw)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_b64(load_private_key(path)) == public_key_b64(key)


def test_public_keys_load_from_base64_or_pem() -> None:
    from cryptography.hazmat.primitives import serialization

    key = generate_private_key()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public_key_b64(load_public_key(pem.decode())) == public_key_b64(key)
    assert public_key_b64(load_public_key(public_key_b64(key))) == public_key_b64(key)
    with pytest.raises(ValueError):
        load_public_key(base64.b64encode(b"short").decode())


def test_a_public_key_file_in_pem_loads_and_other_pems_are_refused(tmp_path: Path) -> None:
    """The appliance reads PEM itself (sync/verifying.py, no `cryptography`): an Ed25519 key only, whole."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = generate_private_key()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "hub.pub").write_bytes(pem)
    assert public_key_b64(load_public_key(tmp_path / "hub.pub")) == public_key_b64(key)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    ec_pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cut = pem.replace(pem.splitlines()[1], pem.splitlines()[1][:-4])
    for refused in (ec_pem, private_pem, cut, b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"):
        with pytest.raises(ValueError):
            load_public_key(refused)


@settings(max_examples=200, deadline=None)
@given(message=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=SIGNATURE_BYTES * 8 - 1))
def test_the_appliances_check_agrees_with_the_hubs_signature(message: bytes, flip: int) -> None:
    """What the hub signs with `cryptography` verifies with libsodium on the appliance; one bit changed does not."""
    key = KEY
    good = key.sign(message)
    appliance = load_public_key(key.public_key())
    assert appliance.verify(good, message)
    bad = bytearray(good)
    bad[flip // 8] ^= 1 << (flip % 8)
    assert not appliance.verify(bytes(bad), message)
    assert not appliance.verify(good, message + b"x")


# ---------------------------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def mutated_batch(draw_events: list[dict[str, Any]], key: str, value: Any) -> bytes:
    events = [dict(e) for e in draw_events]
    events[0][key] = value
    return json.dumps({"v": 1, "site": "site-a", "device": "door-1", "events": events}).encode()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(
            mutated_batch,
            st.just([make_event("site-a", "door-1", 1)]),
            st.sampled_from(["v", "id", "seq", "kind", "at", "mono_ns", "boot", "clock_ok", "data", "site"]),
            json_values,
        ),
    )
)
def test_any_payload_gives_a_result_or_a_protocol_error(payload: bytes) -> None:
    key = generate_private_key()
    for check in (
        lambda p: validate_batch(p, "site-a", "door-1"),
        lambda p: validate_status(p),
        lambda p: validate_request(p),
        lambda p: validate_ack(p),
        lambda p: verify_roster(p, key.public_key(), 0),
        lambda p: check_command(p, key.public_key(), "site-a", "door-1", NOW, MemoryNonceStore()),
    ):
        try:
            check(payload)
        except ProtocolError:
            pass
