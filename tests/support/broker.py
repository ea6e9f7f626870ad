"""A real Mosquitto for a test: halfday/broker.py's launcher, on a free port, stopped by its PID afterwards."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

from halfday.broker import Mosquitto, free_port

__all__ = ["Mosquitto", "free_port", "running_broker"]


def running_broker(folder: Path) -> Iterator[Mosquitto]:
    """Body of the `broker` fixture: a started broker with its own config and data in `folder`."""
    broker = Mosquitto(folder)
    broker.start()
    yield broker
    broker.kill(signal.SIGTERM)
