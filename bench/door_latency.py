"""Door latency: badge presented -> relay energised, through the real nfcpy reader loop and the door daemon.

In the same run, the same measure for a bare nfcpy reader loop (presentation -> on-connect, no door logic), and
our own share: on-connect -> relay energised, which includes the decision and the durable commit.
`python -m bench.door_latency [--taps N]`; last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from access.config import load_config
from access.daemon.door import Door
from access.daemon.timing import DoorTuning
from access.door import DoorTiming
from bench.nfc_raw import GAP_S, JITTER_S, PRESENT_S, measure_raw, percentile
from halfday.sample import extra_badge, make_site
from hardware.virtual_card import VirtualCard

LOCK_PIN = 17
DOOR_PIN = 27
# Enough distinct badges that the reader's per-badge debounce (2 s) never hides a tap.
BADGES = 24
# nfcpy notices a badge has left by its presence check (a few 0.1 s rounds); the bare loop waits for that
# release before its gap, so the door's taps leave the same room.
RELEASE_S = 0.4


class RelayWatch:
    """Absolute monotonic times of the relay's transitions, rebuilt from MockPin's states (which hold deltas)."""

    def __init__(self, pin: Any) -> None:
        self.pin = pin
        pin.clear_states()
        self.base = time.monotonic()  # clear_states stamped its own monotonic() just before this line

    def energised_after(self, after_s: float) -> float | None:
        t: float = self.base
        for state in self.pin.states[1:]:
            t += float(state.timestamp)
            if state.state and t >= after_s:
                return t
        return None


def measure_door(n: int, folder: Path) -> tuple[list[float], list[float], list[float], int]:
    """Return (presentation -> relay, on-connect -> relay, on-connect -> durable commit) in ms, and the missed."""
    card = VirtualCard()
    config = load_config(make_site(folder, card.path, extra_members=BADGES))
    factory = MockFactory()
    tuning = DoorTuning(machine=DoorTiming(unlock_s=0.3, held_open_s=60.0, relock_after_close_s=0.1))
    door = Door(config, tuning=tuning, pin_factory=factory, use_bus=False)
    door.start()
    factory.pin(DOOR_PIN).drive_low()  # the door is closed (after the sensor exists: its pull-up reads "open")
    runner = threading.Thread(target=door.run, daemon=True)
    runner.start()
    relay = RelayWatch(factory.pin(LOCK_PIN))
    rng = random.Random(1)
    tap_ms: list[float] = []
    own_ms: list[float] = []
    commit_ms: list[float] = []
    try:
        time.sleep(0.3)
        for i in range(n):
            uid = extra_badge(i % BADGES)
            presented_ns = card.present_nowait(uid, PRESENT_S)
            # Nothing runs in this process while the tap happens (polling would compete with the reader for the
            # interpreter); the relay's and the record's own timestamps are read once the badge has gone.
            time.sleep(PRESENT_S + RELEASE_S + GAP_S + rng.uniform(0, JITTER_S))
            energised = relay.energised_after(presented_ns / 1e9)
            record = next(
                (p for p in door.recorded if p.connected_ns and p.connected_ns > presented_ns and p.committed_ns),
                None,
            )
            if energised is not None and record is not None and record.connected_ns is not None:
                tap_ms.append((energised - presented_ns / 1e9) * 1e3)
                own_ms.append((energised - record.connected_ns / 1e9) * 1e3)
                commit_ms.append((record.committed_ns - record.connected_ns) / 1e6)
    finally:
        door.stopping.set()
        runner.join(5)
        door.stop()
        card.close()
    return tap_ms, own_ms, commit_ms, n - len(tap_ms)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="door latency")
    parser.add_argument("--taps", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="halfday-bench-") as folder:
        tap_ms, own_ms, commit_ms, missed = measure_door(args.taps, Path(folder))
    raw_ms = measure_raw(args.taps)
    result = {
        "taps": len(tap_ms),
        "missed": missed,
        "raw_taps": len(raw_ms),
        "tap_to_relay_p50_ms": round(percentile(tap_ms, 50), 3),
        "tap_to_relay_p99_ms": round(percentile(tap_ms, 99), 3),
        "raw_p50_ms": round(percentile(raw_ms, 50), 3),
        "raw_p99_ms": round(percentile(raw_ms, 99), 3),
        "connect_to_relay_p50_ms": round(percentile(own_ms, 50), 3),
        "connect_to_relay_p99_ms": round(percentile(own_ms, 99), 3),
        "connect_to_commit_p50_ms": round(percentile(commit_ms, 50), 3),
        "connect_to_commit_p99_ms": round(percentile(commit_ms, 99), 3),
    }
    result["ratio"] = round(result["tap_to_relay_p99_ms"] / result["raw_p99_ms"], 3)
    print(
        f"{len(tap_ms)} taps through the door (missed {missed}), {len(raw_ms)} through a bare nfcpy loop\n"
        f"presentation -> relay: p50 {result['tap_to_relay_p50_ms']} ms, p99 {result['tap_to_relay_p99_ms']} ms\n"
        f"bare loop presentation -> on-connect: p50 {result['raw_p50_ms']} ms, p99 {result['raw_p99_ms']} ms\n"
        f"on-connect -> relay (decision, relay): p99 {result['connect_to_relay_p99_ms']} ms\n"
        f"on-connect -> durable commit of the entry: p99 {result['connect_to_commit_p99_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
