"""Startup and idle cost of the appliance: how fast the door is ready, what the always-running processes cost at rest.

1. `ready_s`: `halfday door` in a process of its own, as its unit starts it, on a ledger of 10,000 members (plus
   the sample's), from the process's start to the READY=1 it sends on a $NOTIFY_SOCKET bound here (the median of
   READY_RUNS starts; each start printed).
2. A networked appliance at rest, every part a real process: the local bus (Mosquitto, with the production
   bus's autosave), the sync agent connected to a hub (the hub and its broker run too, but are not the
   appliance's and are not counted), the kiosk, and the door with its nfcpy reader polling the virtual card.
   Once the roster has arrived and every part answers, SETTLE_S to let start-up work end, then IDLE_S of nothing:
   `idle_cpu_pct` is the utime+stime (/proc/PID/stat, every thread) of the four processes together over IDLE_S,
   in percent of one core. Process time, not wall time: the load of other work on the machine hardly moves it.
3. `rss_mb`: the four processes' VmRSS (/proc/PID/status) summed, at the end of the idle window. The Pss
   (/proc/PID/smaps_rollup, shared pages split among the processes that share them) is printed beside it.

`halfday mail` runs only where the configuration has [mail], and `halfday homeassistant` only where the site
asked for it: each is measured on its own in the same window (`optional`), and not counted in the totals.
`python -m bench.startup [--idle S]`; a line per process, the last line one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import func, select

from access.config import load_config
from access.db import Database, migrate
from access.models import Member
from halfday import sample
from halfday.broker import Mosquitto, free_port
from hardware.virtual_card import VirtualCard
from sync.signing import generate_private_key, public_key_b64, save_private_key

MEMBERS = 10_000
READY_RUNS = 3
# Long enough for the door's minute-long watches (disk, backups) and the agent's 30 s status to happen inside.
IDLE_S = 60.0
# After every part answers: the kiosk's first page, the agent's first status and the like are start-up, not rest.
SETTLE_S = 10.0
START_TIMEOUT_S = 60.0
TICKS = os.sysconf("SC_CLK_TCK")
# The production bus's own setting (systemd/halfday-bus.conf); the tests' brokers save every second.
BUS_CONFIG = """persistence true
persistence_location {data}/
autosave_interval 60
listener {port} 127.0.0.1
allow_anonymous true
max_packet_size 66560
set_tcp_nodelay true
log_dest file {log}
log_type error
log_type warning
"""


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "halfday", *args]


def _spawn(logs: Path, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with (logs / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            _command(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---------------------------------------------------------------------------------------------- ready


def door_ready_s(config_path: Path, folder: Path) -> tuple[float, float]:
    """Seconds from starting `halfday door` to its READY=1, and the processor time it had used by then (which the
    machine's other work hardly moves)."""
    address = str(folder / "notify.sock")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(START_TIMEOUT_S)
    started = time.perf_counter()
    door = _spawn(folder, "door-ready", "door", "--config", str(config_path), env={"NOTIFY_SOCKET": address})
    try:
        while True:
            message = listener.recv(4096).decode()
            if message.startswith("READY=1"):
                return time.perf_counter() - started, sample_process(door.pid).ticks / TICKS
    finally:
        _stop(door)
        listener.close()


# ---------------------------------------------------------------------------------------------- at rest


@dataclass
class Sample:
    ticks: int
    rss_kb: int
    pss_kb: int


def sample_process(pid: int) -> Sample:
    # utime and stime are fields 14 and 15; the command name (field 2) may hold spaces, so split after its ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    rss = pss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return Sample(ticks, rss, pss)


def _wait(what: str, check: Any, processes: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} stopped (logs in {logs})")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} never came (logs in {logs})")


def members(url: str) -> int:
    db = Database(url)
    try:
        with db.read() as session:
            return int(session.scalar(select(func.count()).select_from(Member)) or 0)
    finally:
        db.dispose()


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


class Appliance:
    """A networked appliance and its hub, each part a process as systemd runs it."""

    def __init__(self, root: Path, card: VirtualCard) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.card = card
        self.hub_broker = Mosquitto(root / "hub-broker")
        bus_dir = root / "bus"
        (bus_dir / "data").mkdir(parents=True)
        port = free_port()
        conf = bus_dir / "mosquitto.conf"
        conf.write_text(BUS_CONFIG.format(data=bus_dir / "data", port=port, log=bus_dir / "mosquitto.log"))
        self.bus = Mosquitto(bus_dir, port=port, config_path=conf)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.config_path = root / "appliance" / "halfday.toml"
        self.kiosk_port = free_port()

    def start(self) -> None:
        self.hub_broker.start()
        self.bus.start()
        hub_url = f"mqtt://127.0.0.1:{self.hub_broker.port}"
        hub_config, public_key = self._hub_files(hub_url)
        sample.seed_hub(f"sqlite:///{self.root / 'hub' / 'hub.db'}", carnet_top_up=30)
        self.processes["hub"] = _spawn(self.logs, "hub", "hub", "--config", str(hub_config))
        overrides = {
            "bus": {"url": f"mqtt://127.0.0.1:{self.bus.port}"},
            "hub": {"url": hub_url, "public_key": public_key},
            "kiosk": {"port": self.kiosk_port, "lan_host": "127.0.0.1", "lan_port": free_port()},
        }
        data = sample.site_config(self.root / "appliance" / "halfday.db", self.card.path, overrides=overrides)
        config = sample.write_config(self.config_path, data)
        migrate(config.database_url)
        path = str(self.config_path)
        # As installed: install-pi.sh makes the kiosk's HTTPS certificate once, before the services start.
        subprocess.run(_command("kiosk", "--config", path, "certificate"), check=True, capture_output=True)
        self.processes["sync"] = _spawn(self.logs, "sync", "sync", "--config", path)
        _wait("the hub's roster", lambda: members(config.database_url), self.processes, self.logs)
        self.processes["kiosk"] = _spawn(self.logs, "kiosk", "kiosk", "--config", path)
        self.processes["door"] = _spawn(self.logs, "door", "door", "--config", path)
        _wait("the kiosk", lambda: _listening(self.kiosk_port), self.processes, self.logs)
        _wait("the door", lambda: "porte prête" in (self.logs / "door.log").read_text(), self.processes, self.logs)

    def start_optional(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        process = _spawn(self.logs, name, *args, "--config", str(self.config_path))
        self.processes[name] = process
        return process

    def _hub_files(self, broker_url: str) -> tuple[Path, str]:
        hub = self.root / "hub"
        hub.mkdir()
        key = generate_private_key()
        save_private_key(key, hub / "hub.key")
        settings = {
            "hub": {
                "database_url": f"sqlite:///{hub / 'hub.db'}",
                "private_key": str(hub / "hub.key"),
                "workers": 1,
                "broker": {"url": broker_url},
            }
        }
        path = hub / "hub.toml"
        path.write_text(tomli_w.dumps(settings), encoding="utf-8")
        return path, public_key_b64(key)

    def pids(self) -> dict[str, int]:
        assert self.bus.proc is not None
        return {
            "door": self.processes["door"].pid,
            "kiosk": self.processes["kiosk"].pid,
            "sync": self.processes["sync"].pid,
            "bus": self.bus.proc.pid,
        }

    def stop(self) -> None:
        for process in self.processes.values():
            _stop(process)
        self.bus.stop()
        self.hub_broker.stop()


def measure_rest(root: Path, idle_s: float) -> dict[str, Any]:
    card = VirtualCard()
    appliance = Appliance(root, card)
    try:
        appliance.start()
        optional: dict[str, int] = {}
        mail = appliance.start_optional("mail", "mail")
        optional["mail"] = mail.pid
        time.sleep(SETTLE_S)
        for name, process in appliance.processes.items():
            if process.poll() is not None and name in ("door", "kiosk", "sync", "hub"):
                raise RuntimeError(f"{name} stopped (logs in {appliance.logs})")
        pids = appliance.pids()
        if mail.poll() is not None:
            optional.pop("mail")  # the sample site has no [mail]: the worker has nothing to do and says so
        before = {name: sample_process(pid) for name, pid in {**pids, **optional}.items()}
        time.sleep(idle_s)
        after = {name: sample_process(pid) for name, pid in {**pids, **optional}.items()}
    finally:
        appliance.stop()
        card.close()
    rows = {
        name: {
            "cpu_pct": round((after[name].ticks - before[name].ticks) / TICKS / idle_s * 100, 3),
            "rss_mb": round(after[name].rss_kb / 1024, 1),
            "pss_mb": round(after[name].pss_kb / 1024, 1),
        }
        for name in after
    }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--idle", type=float, default=IDLE_S, help="seconds of rest measured")
    parser.add_argument("--members", type=int, default=MEMBERS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="halfday-startup-") as tmp:
        folder = Path(tmp) / "ready"
        folder.mkdir()
        card = VirtualCard()
        try:
            config_path = sample.make_site(folder, card.path, extra_members=args.members)
            count = members(load_config(config_path).database_url)
            runs = [door_ready_s(config_path, folder) for _ in range(READY_RUNS)]
        finally:
            card.close()
        for i, (seconds, cpu) in enumerate(runs, 1):
            print(f"door start {i}: READY=1 after {seconds:.3f} s, {cpu:.2f} s of processor ({count} members)")
        rows = measure_rest(Path(tmp) / "rest", args.idle)
    counted = ("door", "kiosk", "sync", "bus")
    for name, row in rows.items():
        extra = "" if name in counted else " (optional, not counted)"
        print(f"{name:6} cpu {row['cpu_pct']:6.3f} %  rss {row['rss_mb']:6.1f} MB  pss {row['pss_mb']:6.1f} MB{extra}")
    load1, load5, _ = os.getloadavg()
    result = {
        "ready_s": round(statistics.median(s for s, _ in runs), 3),
        "ready_cpu_s": round(statistics.median(c for _, c in runs), 3),
        "ready_runs_s": [round(s, 3) for s, _ in runs],
        "members": count,
        "idle_s": args.idle,
        "idle_cpu_pct": round(sum(rows[n]["cpu_pct"] for n in counted), 3),
        "rss_mb": round(sum(rows[n]["rss_mb"] for n in counted), 1),
        "pss_mb": round(sum(rows[n]["pss_mb"] for n in counted), 1),
        "processes": rows,
        "load_avg": [round(load1, 2), round(load5, 2)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
