"""Roster helpers for tests: a publisher that keeps what the keeper publishes, and the doors' asking for snapshots
(a site gets its first snapshot when a door asks: sync/PROTOCOL.md, "Missed deltas")."""

from __future__ import annotations

from collections.abc import Sequence

from common.db import utcnow
from sync.hub.db import HubDatabase
from sync.hub.roster import ask_snapshot


class Published(list[tuple[str, bytes]]):
    """The keeper's `publish`: every (topic, payload) in order; `answers` (if any) say what the broker acknowledges."""

    def __init__(self, answers: list[bool] | None = None) -> None:
        super().__init__()
        self.answers = answers
        self.retained: list[bool] = []

    def __call__(self, messages: Sequence[tuple[str, bytes]], retain: bool) -> bool:
        self.extend(messages)
        self.retained += [retain] * len(messages)
        return self.answers.pop(0) if self.answers is not None else True

    def clear(self) -> None:
        super().clear()
        self.retained.clear()

    def payloads(self) -> list[bytes]:
        return [payload for _topic, payload in self]


def doors_ask(db: HubDatabase, *sites: str) -> None:
    """The sites' doors say they hold no roster (or are behind): the keeper's next pass makes their snapshots."""
    with db.write() as session:
        for site in sites:
            ask_snapshot(session, site, utcnow(), at_once=True)
