"""The door's rescue journal: where its records go while the ledger cannot be written (a damaged database), so that
no entry is lost; written into the ledger once a sound one is back (`halfday restore`), then removed.

The same file format keeps, in RAM (the unit's runtime folder under /run), a copy of what waits in the door's memory
while the disk refuses writes: a door stopped or killed then leaves it to the next start instead of losing it.

One JSON line per event, appended and synced before the door says it recorded it. A line cut short by a power
failure is the only one that can be incomplete: the last, which is skipped with a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from access.store import Rescued, Stamp, replay_events
from common.db import Database
from common.files import sync_folder

log = logging.getLogger("halfday.door")


def _line(record: Rescued) -> str:
    stamp = record.stamp
    item = {
        "id": record.event_id,
        "kind": record.kind,
        "data": record.data,
        "at": stamp.at.isoformat(),
        "mono_ns": stamp.mono_ns,
        "boot": stamp.boot,
        "clock_ok": stamp.clock_ok,
    }
    return json.dumps(item, separators=(",", ":")) + "\n"


def _record(item: dict[str, Any]) -> Rescued:
    stamp = Stamp(dt.datetime.fromisoformat(item["at"]), int(item["mono_ns"]), item["boot"], bool(item["clock_ok"]))
    return Rescued(item["id"], item["kind"], item["data"], stamp)


def _write(path: Path, flags: int, records: list[Rescued]) -> None:
    """Write `records`' lines to `path` (opened with `flags`: appending or truncating), synced before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(_line(r) for r in records))
        out.flush()
        os.fsync(out.fileno())


class RescueJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, records: list[Rescued]) -> None:
        """Add records durably (synced before returning); OSError if even this disk refuses."""
        created = not self.path.exists()
        _write(self.path, os.O_APPEND, records)
        if created:
            sync_folder(self.path.parent)

    def rewrite(self, records: list[Rescued]) -> None:
        """Hold exactly `records` (none: no file), replaced whole: a copy that a stop at any moment leaves either
        old or new."""
        if not records:
            self.discard()
            return
        part = self.path.with_name(self.path.name + ".part")
        _write(part, os.O_TRUNC, records)
        os.replace(part, self.path)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def read(self) -> list[Rescued]:
        """Every whole record, in the order written (a last line cut short is skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(_record(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                log.warning("journal de secours %s : ligne %d illisible, ignorée", self.path, number)
        return records

    def replay(self, db: Database, site_id: str, device_id: str) -> int:
        """Write the journal into the ledger `db` in one transaction, then remove it; returns the events written."""
        records = self.read()
        if not records:
            self.path.unlink(missing_ok=True)
            return 0
        with db.write() as session:
            written = replay_events(session, site_id, device_id, records)
        self.path.unlink()
        sync_folder(self.path.parent)
        log.warning("journal de secours réinscrit dans la base : %d événement(s)", written)
        return written
