"""systemd's notify protocol (READY, WATCHDOG, STATUS), spoken directly on $NOTIFY_SOCKET.

A few lines of socket code instead of a dependency; outside systemd every call does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        usec = os.environ.get("WATCHDOG_USEC")
        # Ping at half the watchdog period, as systemd recommends.
        self.watchdog_interval_s: float | None = int(usec) / 2e6 if usec and usec.isdigit() else None

    def send(self, message: str) -> None:
        if not self._address:
            return
        # An OSError means systemd went away (shutdown): there is nobody left to tell.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            sock.sendto(message.encode(), self._address)

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1")
