"""Benchmark: `decide` plus charging over a roster of 10,000 members with 100,000 past uses.

Run: python -m bench.policy  (last line: one JSON object)
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
from zoneinfo import ZoneInfo

from access.ledger import Entitlement, SlotRules
from access.policy import AccessState, CredentialInfo, Holder, apply, decide
from common.words import SLOTS, PlanKind

MEMBERS = 10_000
PAST_USES = 100_000
DECISIONS = 200_000


def build_state(rng: random.Random) -> tuple[AccessState, list[str]]:
    state = AccessState(rules=SlotRules(ZoneInfo("Europe/Paris")))
    uids = []
    for i in range(MEMBERS):
        holder_id = f"m{i:05d}"
        if i % 3 == 0:
            rights = [Entitlement(f"s{i}", PlanKind.UNLIMITED, valid_until=dt.date(2027, 12, 31))]
        else:
            rights = [Entitlement(f"s{i}", PlanKind.CARNET, balance=rng.randint(0, 40), allow_overdraft=i % 10 == 0)]
        state.holders[holder_id] = Holder(holder_id, f"Membre{i}", True, rights)
        uid = f"{0x10000000 + i:08X}"
        state.credentials[uid] = CredentialInfo(uid, holder_id, i % 97 != 0)
        uids.append(uid)
    start = dt.date(2026, 1, 1)
    while len(state.uses.seen) < PAST_USES:
        state.uses.add(
            f"m{rng.randrange(MEMBERS):05d}",
            start + dt.timedelta(days=rng.randrange(300)),
            rng.choice(SLOTS),
        )
    return state, uids


def main() -> None:
    rng = random.Random(7)
    t0 = time.perf_counter()
    state, uids = build_state(rng)
    build_s = time.perf_counter() - t0
    unknown = [f"{0x20000000 + i:08X}" for i in range(1000)]
    # Taps over one working day, minute by minute: re-entries, new slots, unknown and revoked badges.
    base = dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.UTC)
    plan = [
        (
            rng.choice(unknown) if rng.random() < 0.05 else rng.choice(uids),
            base + dt.timedelta(seconds=i * 0.2),
        )
        for i in range(DECISIONS)
    ]
    samples = []
    granted = charged = 0
    clock = time.perf_counter_ns
    loop_start = clock()
    for uid, now in plan:
        t = clock()
        decision = decide(uid, now, state)
        apply(decision, state)
        samples.append(clock() - t)
        granted += decision.granted
        charged += decision.charge is not None
    total_s = (clock() - loop_start) / 1e9
    samples.sort()
    result = {
        "members": MEMBERS,
        "past_uses": PAST_USES,
        "decisions": DECISIONS,
        "granted": granted,
        "charged": charged,
        "build_s": round(build_s, 3),
        "decisions_per_s": round(DECISIONS / total_s),
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
        "max_us": round(samples[-1] / 1000, 1),
        "mean_us": round(statistics.fmean(samples) / 1000, 2),
    }
    print(
        f"{DECISIONS} decisions over {MEMBERS} members and {PAST_USES} past uses: "
        f"{result['decisions_per_s']}/s, p99 {result['p99_us']} µs"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
