"""One rule for a badge's identifier, at the appliance and at the hub: what the configured reader can read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from access import admin
from access.config import load_config
from access.db import Database, migrate
from common.badges import ANY_READER, BadgeError, BadgeRule
from sync.hub import admin as hub_admin
from sync.hub.admin import HubError
from sync.hub.db import HubDatabase
from sync.protocol import UID_RE

FELICA_IDM = "03FEFFE011223344"  # a FeliCa card's 8-byte IDm, as nfcpy reads it with "212F" polled


@pytest.mark.parametrize(
    ("targets", "accepted", "refused"),
    [
        (("106A",), ["1A2B3C4D", "04A23B1C2D3E4F", "0102030405060708090A"], [FELICA_IDM, "0102030405"]),
        (("106A", "212F"), ["1A2B3C4D", FELICA_IDM], ["0102030405", "01020304050607080910A1"]),
        (("212F",), [FELICA_IDM], ["1A2B3C4D"]),
        (("106B",), ["1A2B3C4D"], ["04A23B1C2D3E4F"]),
    ],
)
def test_a_reader_accepts_what_its_targets_can_read(
    targets: tuple[str, ...], accepted: list[str], refused: list[str]
) -> None:
    rule = BadgeRule.for_targets(targets)
    for uid in accepted:
        assert rule.normalise(uid.lower()) == uid and rule.accepts(uid)
    for uid in refused:
        with pytest.raises(BadgeError, match="n'est pas un identifiant de badge"):
            rule.normalise(uid)
        assert not rule.accepts(uid)


def test_separators_and_case_are_forgiven_and_nothing_else() -> None:
    assert ANY_READER.normalise("04:a2:3b:1c") == "04A23B1C" == ANY_READER.normalise("04-A2 3B1C")
    for raw in ("04A23B1G", "", "04A23B1", "=04A23B1C"):
        with pytest.raises(BadgeError):
            ANY_READER.normalise(raw)


def test_the_appliance_enrols_a_felica_card_only_where_its_reader_polls_felica(
    write_config: Callable[..., Path],
) -> None:
    for targets, expected in ((["106A", "212F"], True), (["106A"], False)):
        config = load_config(write_config({"hardware": {"reader": {"targets": targets}}}))
        migrate(config.database_url)
        db = Database(config.database_url)
        try:
            with db.write() as session:
                member = admin.add_member(session, admin.MemberSpec(f"Zoé{len(targets)}"), "door-1")
                if expected:
                    assert admin.add_badge(session, member, FELICA_IDM, config.badges).value == FELICA_IDM
                else:
                    with pytest.raises(admin.AdminError, match="4, 7 ou 10 octets"):
                        admin.add_badge(session, member, FELICA_IDM, config.badges)
        finally:
            db.dispose()


def test_the_hub_and_the_protocol_take_any_readers_badge(tmp_path: Path) -> None:
    assert UID_RE.fullmatch(FELICA_IDM) and not UID_RE.fullmatch("0102030405")
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    db.create_all()
    try:
        member = hub_admin.add_member(db, "Zoé")
        assert hub_admin.enrol_badge(db, member, FELICA_IDM.lower())
        with pytest.raises(HubError) as refused:
            hub_admin.enrol_badge(db, member, "0102030405")
        assert refused.value.code == "bad_uid"
    finally:
        db.dispose()
