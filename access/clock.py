"""Can the wall clock be trusted? A Raspberry Pi has no real-time clock: after a power cut without network it
may boot with a date in the past. The door keeps a persisted time floor (the latest trusted time it has seen)
and asks the kernel whether NTP has synchronised the clock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import functools
from dataclasses import dataclass

# adjtimex(2) state and status bits.
_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


@functools.cache
def _libc() -> ctypes.CDLL:
    # find_library runs ldconfig: once per process, never on a tap.
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def kernel_synchronised() -> bool:
    """Whether the kernel says an NTP client (timesyncd, chrony) keeps the clock synchronised."""
    try:
        libc = _libc()
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return False
    return state not in (-1, _TIME_ERROR) and not timex.status & _STA_UNSYNC


@dataclass(slots=True)
class ClockGuard:
    """Pure judgement of the wall clock, with the persisted floor and what was seen since boot.

    Once synchronised during this boot, the clock stays trusted when the network drops: its drift over a week
    is seconds, while the real danger is a boot with no network at all.
    """

    floor: dt.datetime | None = None
    synced_this_boot: bool = False
    trust_always: bool = False

    def check(self, now: dt.datetime, kernel_synced: bool) -> bool:
        """Whether events at `now` carry a trusted time; raises the floor when they do."""
        if self.trust_always:
            return True
        if kernel_synced:
            self.synced_this_boot = True
        ok = self.synced_this_boot and (self.floor is None or now >= self.floor)
        if ok and (self.floor is None or now > self.floor):
            self.floor = now
        return ok
