"""Raw reader latency: a bare nfcpy reader loop (no door logic) polling the virtual card over the udp driver.

Measures, for each tap, presentation (VirtualCard.present_nowait) -> nfcpy's on-connect. The door latency bench
subtracts this floor from its own figures. `python -m bench.nfc_raw [--taps N]` prints statistics and, last,
one JSON line: {"raw_p50_ms", "raw_p99_ms", "raw_max_ms", "taps", "missed"}.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import threading
import time
from collections.abc import Sequence

import nfc

from hardware.virtual_card import VirtualCard

# A quick tap of a badge on the reader.
PRESENT_S = 0.2
# Pause after the badge has left before the next one: nfcpy's presence check (3 x 0.1 s) must have released it.
GAP_S = 0.5
# Random extra pause so presentations land at every phase of the reader's 1 s poll, not always the same one.
JITTER_S = 0.2
# A tap not seen within this is counted as missed (the udp poll alone never takes longer than 1 s).
TAP_TIMEOUT_S = 3.0


def measure_raw(
    n: int,
    *,
    present_s: float = PRESENT_S,
    gap_s: float = GAP_S,
    targets: Sequence[str] = ("106A",),
    seed: int = 0,
) -> list[float]:
    """Present `n` badges to a bare nfcpy loop; return presentation -> on-connect latencies in ms.

    A tap the reader missed has no entry: `n - len(result)` taps were missed.
    """
    rng = random.Random(seed)
    connected: queue.Queue[int] = queue.Queue()
    released = threading.Event()
    stop = threading.Event()

    def on_connect(tag: object) -> bool:
        connected.put(time.monotonic_ns())
        return True  # wait for the badge to leave, as the door's reader does

    def on_release(tag: object) -> bool:
        released.set()
        return True

    options = {
        "targets": list(targets),
        "on-connect": on_connect,
        "on-release": on_release,
        "iterations": 1,
        "beep-on-connect": False,
    }
    latencies: list[float] = []
    with VirtualCard() as card:
        frontend = nfc.ContactlessFrontend(card.path)

        def loop() -> None:
            while not stop.is_set():
                frontend.connect(rdwr=options, terminate=stop.is_set)

        thread = threading.Thread(target=loop, name="bench-nfc-raw", daemon=True)
        thread.start()
        try:
            time.sleep(0.2)  # let the first poll start
            for i in range(n):
                released.clear()
                presented_ns = card.present_nowait(f"{0xA1000000 + i:08X}", seconds=present_s)
                try:
                    latencies.append((connected.get(timeout=TAP_TIMEOUT_S) - presented_ns) / 1e6)
                except queue.Empty:
                    continue
                released.wait(present_s + TAP_TIMEOUT_S)
                time.sleep(gap_s + rng.uniform(0, JITTER_S))
        finally:
            stop.set()
            thread.join()
            frontend.close()
    return latencies


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--taps", type=int, default=100)
    parser.add_argument("--present-s", type=float, default=PRESENT_S)
    parser.add_argument("--gap-s", type=float, default=GAP_S)
    args = parser.parse_args(argv)
    latencies = measure_raw(args.taps, present_s=args.present_s, gap_s=args.gap_s)
    missed = args.taps - len(latencies)
    print(f"taps presented: {args.taps}, seen: {len(latencies)}, missed: {missed}")
    for label, q in (("min", 0), ("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        print(f"presentation -> on-connect {label}: {percentile(latencies, q):.2f} ms")
    result = {
        "raw_p50_ms": round(percentile(latencies, 50), 3),
        "raw_p99_ms": round(percentile(latencies, 99), 3),
        "raw_max_ms": round(percentile(latencies, 100), 3),
        "taps": len(latencies),
        "missed": missed,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
