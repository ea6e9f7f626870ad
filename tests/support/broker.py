"""A real Mosquitto broker for tests (see sync/broker.py), and the pytest fixtures that start and stop it."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import pytest

from halfday.broker import MOSQUITTO, POLL_S, START_TIMEOUT_S, STOP_TIMEOUT_S, Mosquitto, free_port

__all__ = [
    "MOSQUITTO",
    "POLL_S",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "Mosquitto",
    "free_port",
    "mosquitto",
    "mosquitto_factory",
]


def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Mosquitto]]:
    """Body of a fixture that hands out started brokers and stops them all at teardown.

    Use it as:
        @pytest.fixture
        def make_broker(tmp_path_factory):
            yield from mosquitto_factory(tmp_path_factory)
    """
    brokers: list[Mosquitto] = []

    def make(extra_config: str = "") -> Mosquitto:
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), extra_config=extra_config)
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.kill(signal.SIGTERM)


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A started broker on a free port, stopped by PID after the test."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.kill(signal.SIGTERM)
