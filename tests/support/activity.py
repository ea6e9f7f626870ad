"""A few months of a coworking network's activity for the funders' report tests, as the doors report it: entries
of members (carnets and unlimited plans, some roaming), walk-ins with passes, members' guests, and bookings of
the meeting room, offices and a phone box by members and walk-ins.

`expected` recomputes every figure from these raw events in plain Python, apart from the code under test."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
SLOTS = ("morning", "afternoon")
ROOM_KINDS = {"office": "offices", "meeting_room": "meeting_room", "phone_box": "other_rooms"}


def hexid() -> str:
    return uuid.uuid4().hex


@dataclass
class Activity:
    """The raw events per site (`entry` and `booking` data, in order) and who holds which subscription."""

    members: list[str]
    subscription_of: dict[str, str]  # member -> their subscription (a carnet or an unlimited plan)
    carnets: set[str]  # the subscriptions that are carnets (a use spends a half-day)
    events: dict[str, list[tuple[str, Json]]] = field(default_factory=lambda: defaultdict(list))
    resources: dict[str, dict[str, str]] = field(default_factory=dict)  # site -> kind -> resource id

    def owner(self, subscription: str | None) -> str | None:
        return next((m for m, s in self.subscription_of.items() if s == subscription), None)


def entry(holder: str, day: dt.date, slot: str, spent: int, sub: str | None, pass_id: str | None = None) -> Json:
    use = {"date": day.isoformat(), "slot": slot, "spent": spent, "subscription": sub, "pass": pass_id}
    return {"uid": "04A1B2C3", "holder": holder, "granted": True, "reason": "ok", "plan": None, "use": use}


def booking(
    resource: str, kind: str, holder: str | None, half_days: list[tuple[dt.date, str]], sub: str | None
) -> Json:
    return {
        "group": hexid(),
        "resource": resource,
        "resource_kind": kind,
        "resource_name": {"office": "Bureau 1", "meeting_room": "Salle du Lot", "phone_box": "Cabine"}[kind],
        "holder": holder,
        "name": "Léa",
        "paid_by": "carnet" if sub else "counter",
        "sale": None if sub else hexid(),
        "origin": "kiosk",
        "request": None,
        "slots": [
            {"id": hexid(), "date": d.isoformat(), "slot": s, "spent": 1 if sub else 0, "subscription": sub}
            for d, s in half_days
        ],
    }


def days(year: int, month: int) -> list[dt.date]:
    first = dt.date(year, month, 1)
    return [first + dt.timedelta(days=i) for i in range(31) if (first + dt.timedelta(days=i)).month == month]


def generate(
    subscription_of: dict[str, str],
    carnets: set[str],
    sites: list[str],
    months: list[tuple[int, int]],
    seed: int = 17,
) -> Activity:
    """Random but reproducible activity: each member comes in some of `months`, mostly at one site."""
    rng = random.Random(seed)
    members = list(subscription_of)
    act = Activity(members, subscription_of, carnets)
    for site in sites:
        act.resources[site] = {kind: hexid() for kind in ROOM_KINDS}
    taken: set[tuple[str, str, dt.date, str]] = set()  # (holder, site, day, slot): one use each
    booked: set[tuple[str, dt.date, str]] = set()  # (resource, day, slot)

    def add_entry(site: str, holder: str, day: dt.date, slot: str, sub: str | None, pass_id: str | None) -> None:
        if (holder, site, day, slot) in taken:
            return
        taken.add((holder, site, day, slot))
        spent = 1 if sub in carnets else 0
        act.events[site].append(("entry", entry(holder, day, slot, spent, sub, pass_id)))

    for year, month in months:
        month_days = days(year, month)
        for member in members:
            if rng.random() < 0.3:
                continue  # this member skips the month
            home = sites[members.index(member) % len(sites)]
            for _ in range(rng.randint(1, 8)):
                site = home if rng.random() < 0.8 else rng.choice(sites)
                add_entry(site, member, rng.choice(month_days), rng.choice(SLOTS), subscription_of[member], None)
        for _ in range(rng.randint(4, 10)):  # walk-ins: a pass of one to three half-days
            pass_id, site, day = hexid(), rng.choice(sites), rng.choice(month_days)
            for slot in rng.sample(SLOTS, rng.randint(1, 2)):
                add_entry(site, pass_id, day, slot, None, pass_id)
            if rng.random() < 0.4 and day.day < 28:
                add_entry(site, pass_id, day + dt.timedelta(days=1), "morning", None, pass_id)
        for _ in range(rng.randint(1, 3)):  # a member's guest, charged to the member's subscription
            host = rng.choice(members)
            guest, site, day = hexid(), rng.choice(sites), rng.choice(month_days)
            for slot in rng.sample(SLOTS, rng.randint(1, 2)):
                add_entry(site, guest, day, slot, subscription_of[host], None)
        for _ in range(rng.randint(3, 7)):  # room and office bookings, by members or walk-ins
            site, kind = rng.choice(sites), rng.choice(list(ROOM_KINDS))
            resource, day = act.resources[site][kind], rng.choice(month_days)
            half_days = [(day, s) for s in rng.sample(SLOTS, rng.randint(1, 2)) if (resource, day, s) not in booked]
            if not half_days:
                continue
            booked.update((resource, d, s) for d, s in half_days)
            holder = rng.choice(members) if rng.random() < 0.6 else None
            sub = subscription_of[holder] if holder and subscription_of[holder] in carnets else None
            act.events[site].append(("booking", booking(resource, kind, holder, half_days, sub)))
    return act


@dataclass
class Expected:
    uses: dict[str, int]
    people: dict[str, int]
    new_members: int
    came_back: int
    week: dict[tuple[int, str], int]
    trend: dict[tuple[int, int], int]


UseRow = tuple[str, dt.date, str, str, str, str, str | None]


def flat_uses(act: Activity, sites: list[str]) -> list[UseRow]:
    """(site, day, slot, kind, who, person, member) of every use the events make, read from the raw events."""
    out: list[UseRow] = []
    for site in sites:
        for kind, data in act.events[site]:
            if kind == "entry":
                use = data["use"]
                day = dt.date.fromisoformat(use["date"])
                if use["pass"]:
                    out.append((site, day, use["slot"], "passes", "walk_in", use["pass"], None))
                elif use["subscription"] and act.owner(use["subscription"]) not in (None, data["holder"]):
                    out.append((site, day, use["slot"], "guests", "guest", data["holder"], None))
                else:
                    out.append((site, day, use["slot"], "members", "member", data["holder"], data["holder"]))
            else:
                for part in data["slots"]:
                    who = "member" if data["holder"] else "walk_in"
                    person = data["holder"] or data["group"]
                    day = dt.date.fromisoformat(part["date"])
                    room = ROOM_KINDS[data["resource_kind"]]
                    out.append((site, day, part["slot"], room, who, person, data["holder"]))
    return out


def expected(act: Activity, sites: list[str], months: list[tuple[int, int]]) -> Expected:
    """The figures of the period made of `months` (consecutive), counted naively from the raw events."""
    uses = flat_uses(act, sites)
    chosen = set(months)

    def month_of(day: dt.date) -> tuple[int, int]:
        return (day.year, day.month)

    def previous(m: tuple[int, int]) -> tuple[int, int]:
        return (m[0] - 1, 12) if m[1] == 1 else (m[0], m[1] - 1)

    in_period = [u for u in uses if month_of(u[1]) in chosen]
    by_kind: dict[str, int] = defaultdict(int)
    week: dict[tuple[int, str], int] = defaultdict(int)
    people: dict[str, set[str]] = defaultdict(set)
    for _site, day, slot, kind, who, person, _member in in_period:
        by_kind[kind] += 1
        week[(day.weekday(), slot)] += 1
        people[who].add(person)
    member_months: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for u in uses:
        if u[6] is not None:
            member_months[u[6]].add(month_of(u[1]))
    first = min(chosen)
    new = back = 0
    for used in member_months.values():
        came = sorted(m for m in used if m in chosen)
        if not came:
            continue
        if min(used) >= first:
            new += 1
        if any(previous(m) not in used and any(u < previous(m) for u in used) for m in came):
            back += 1
    last = max(chosen)
    trend_months = [last]
    while len(trend_months) < 12:
        trend_months.insert(0, previous(trend_months[0]))
    trend = {m: sum(1 for u in uses if month_of(u[1]) == m) for m in trend_months}
    return Expected(dict(by_kind), {w: len(p) for w, p in people.items()}, new, back, dict(week), trend)
