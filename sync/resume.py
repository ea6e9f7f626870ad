"""Resuming a restored or new ledger's stream (sync/PROTOCOL.md, "A restored or new ledger"): the device's request,
made and checked, and the check of the hub's signed answer, which the hub makes in sync/hub/resume.py."""

from __future__ import annotations

from sync.payloads import validate_event
from sync.protocol import MAX_SEQ, VERSION, Fields, Json, ProtocolError, dumps, parse_json
from sync.verifying import KeyLike, verify

# A page of the hub's answer: well under MAX_MESSAGE_BYTES whatever the events hold, and a short transaction to
# write at the door.
RESUME_PAGE_EVENTS = 200
RESUME_PAGE_BYTES = 512 * 1024
# How long a device waits for an answer before asking again (the hub may be restarting).
RESUME_RETRY_S = 10.0


def make_resume_request(site: str, device: str, incarnation: str, base: int, first: int) -> bytes:
    return dumps(
        {"v": VERSION, "site": site, "device": device, "incarnation": incarnation, "base": base, "from": first}
    )


def _place(f: Fields, site: str | None, device: str | None) -> None:
    if f.ident("site") != site and site is not None:
        raise ProtocolError(f"{f.where}.site ne correspond pas au topic")
    if f.ident("device") != device and device is not None:
        raise ProtocolError(f"{f.where}.device ne correspond pas au topic")


def validate_resume_request(payload: bytes | str, site: str | None = None, device: str | None = None) -> Json:
    """A device's resume request, checked against the topic's site and device."""
    obj = parse_json(payload)
    f = Fields(obj, "resume")
    if obj.get("v") != VERSION:
        raise ProtocolError(f"resume.v doit valoir {VERSION}")
    _place(f, site, device)
    f.hex_id("incarnation")
    base = f.integer("base")
    f.integer("from", low=base + 1 if base < MAX_SEQ else MAX_SEQ)
    if set(obj) != {"v", "site", "device", "incarnation", "base", "from"}:
        raise ProtocolError("resume : champs inconnus")
    return obj


def check_resumed(
    payload: bytes | str,
    public_key: KeyLike,
    site: str,
    device: str,
    incarnation: str,
    first: int,
) -> Json:
    """The hub's answer, if signed and for this device's incarnation and the page it asked for (events from `first`
    on, contiguous, none past the cursor); ProtocolError otherwise."""
    obj = parse_json(payload)
    if obj.get("v") != VERSION:
        raise ProtocolError(f"resumed.v doit valoir {VERSION}")
    verify(obj, public_key)
    f = Fields(obj, "resumed")
    _place(f, site, device)
    if f.hex_id("incarnation") != incarnation:
        raise ProtocolError("resumed : réponse pour une autre incarnation")
    f.integer("base")
    cursor = f.integer("cursor")
    more = f.boolean("more")
    events = obj.get("events")
    if not isinstance(events, list) or len(events) > RESUME_PAGE_EVENTS:
        raise ProtocolError(f"resumed.events doit être une liste d'au plus {RESUME_PAGE_EVENTS} événements")
    for i, event in enumerate(events):
        validate_event(event, f"resumed.events[{i}]")
        if event["site"] != site or event["device"] != device:
            raise ProtocolError(f"resumed.events[{i}] n'est pas un événement de cet appareil")
        if event["seq"] != first + i or event["seq"] > cursor:
            raise ProtocolError(f"resumed.events[{i}].seq devrait valoir {first + i}, jusqu'au curseur {cursor}")
    if more and not events:
        raise ProtocolError("resumed : « more » sans aucun événement")
    if set(obj) != {"v", "site", "device", "incarnation", "base", "cursor", "events", "more", "sig"}:
        raise ProtocolError("resumed : champs inconnus")
    return obj
