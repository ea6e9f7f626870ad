"""`make demo` / `halfday demo`: the whole system on one machine, with simulated hardware.

A hub with a network of two spaces and a month of history, one appliance (the door with a virtual card reader and
mock GPIO, the kiosk, the sync agent), a broker, and a simulator page to tap badges and work the door. Ctrl-C
stops every process it started.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import tomli_w

from access.config import load_config
from access.db import Database
from access.models import Member
from common.secrets import private_file
from halfday import history, sample
from halfday.broker import Mosquitto, free_port
from sync.hub.config import parse_hub_settings

DEMO_PASSWORD = "demo-halfday"
# The hub's accounts need twelve characters at least.
DEMO_LOGIN = "admin"
DEMO_HUB_PASSWORD = "demo-halfday-hub"
LOCK_PIN, DOOR_PIN, EXIT_PIN = 17, 27, 22
# A child still running this long after SIGTERM is killed.
STOP_GRACE_S = 10.0
# The first roster must reach the appliance before the past month is replayed at its door.
ROSTER_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the demo itself is killed, the kernel sends its children SIGTERM: nothing is left running.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Demo:
    def __init__(self, root: Path, host: str, ports: dict[str, int]) -> None:
        self.root = root
        self.host = host
        self.ports = ports
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.broker: Mosquitto | None = None
        self.door: Any = None
        self.door_thread: threading.Thread | None = None
        self.simulator_server: Any = None
        self.card: Any = None

    # -------------------------------------------------------------------------------------------- start

    def start(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "hub").mkdir(parents=True)
        (self.root / "logs").mkdir()
        logging.basicConfig(
            filename=self.root / "logs" / "door.log",
            level=logging.INFO,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        self.broker = Mosquitto(self.root / "broker", port=self.ports["broker"])
        self.broker.start()
        broker_url = f"mqtt://127.0.0.1:{self.broker.port}"
        hub_config, public_key = self._hub_files(broker_url)
        hub_db = f"sqlite:///{self.root / 'hub' / 'hub.db'}"
        member_ids = sample.seed_hub(hub_db, carnet_top_up=30)
        history.seed_other_site(hub_db, member_ids, dt.datetime.now(history.PARIS).date())
        self._hub_admin(hub_db)
        self._spawn("hub", "hub", "--config", str(hub_config))
        self._spawn("hub-web", "hub", "--config", str(hub_config), "web")

        from hardware.virtual_card import VirtualCard

        self.card = VirtualCard()
        config_path = self._appliance_config(broker_url, public_key)
        config = load_config(config_path)
        self._spawn("sync", "sync", "--config", str(config_path))
        self._wait_for_roster(config.database_url)
        replayed = history.seed_past_month(config, dt.datetime.now(config.site.tz).date())
        self._run("kiosk", "--config", str(config_path), "password", stdin=DEMO_PASSWORD + "\n")
        self._spawn("kiosk", "kiosk", "--config", str(config_path))
        self._start_door(config)
        self._start_simulator()
        self._wait_listening("kiosk", self.ports["kiosk"], "127.0.0.1")
        for name in ("kiosk_https", "hub", "simulator"):
            self._wait_listening(name, self.ports[name])
        self._print_addresses(replayed, config)

    def _hub_admin(self, hub_db: str) -> None:
        """The demo network's first admin, as `halfday hub account add` would make it on a real hub."""
        from sync.hub.accounts import add_account
        from sync.hub.audit import Role
        from sync.hub.db import HubDatabase

        db = HubDatabase(hub_db)
        try:
            add_account(db, DEMO_LOGIN, DEMO_HUB_PASSWORD, Role.NETWORK_ADMIN, name="Démo")
        finally:
            db.dispose()

    def _hub_files(self, broker_url: str) -> tuple[Path, str]:
        from sync.signing import generate_private_key, public_key_b64, save_private_key

        hub = self.root / "hub"
        key = generate_private_key()
        save_private_key(key, hub / "hub.key")
        private_file(hub / "web-secret")
        settings = {
            "hub": {
                "database_url": f"sqlite:///{hub / 'hub.db'}",
                "private_key": str(hub / "hub.key"),
                "workers": 1,
                "broker": {"url": broker_url},
                "web": {
                    "host": self.host,
                    "port": self.ports["hub"],
                    "secret_key_file": str(hub / "web-secret"),
                },
            }
        }
        parse_hub_settings(settings)  # what the demo writes must itself pass validation
        path = hub / "hub.toml"
        path.write_text(tomli_w.dumps(settings), encoding="utf-8")
        return path, public_key_b64(key)

    def _appliance_config(self, broker_url: str, public_key: str) -> Path:
        """The appliance's config as data (the sample site's, on this demo's broker, hub and ports), then its
        database made by `halfday migrate` as at a real site."""
        path = self.root / "appliance" / "halfday.toml"
        overrides = {
            "bus": {"url": broker_url},
            "hub": {"url": broker_url, "public_key": public_key},
            # The touchscreen's listener stays on loopback; --host is where the site's network gets the admin and
            # the wall display, over HTTPS, as at a real site.
            "kiosk": {"port": self.ports["kiosk"], "lan_host": self.host, "lan_port": self.ports["kiosk_https"]},
        }
        data = sample.site_config(self.root / "appliance" / "halfday.db", self.card.path, overrides=overrides)
        sample.write_config(path, data)
        self._run("--config", str(path), "migrate")
        return path

    def _wait_for_roster(self, database_url: str) -> None:
        from sqlalchemy import func, select

        database = Database(database_url)
        deadline = time.monotonic() + ROSTER_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                failed = self.failed_child()
                if failed is not None:
                    raise RuntimeError(f"« {failed} » s'est arrêté (journaux : {self.root / 'logs'})")
                with database.read() as session:
                    if session.scalar(select(func.count()).select_from(Member)):
                        return
                time.sleep(0.2)
        finally:
            database.dispose()
        raise RuntimeError(f"la liste des membres n'est pas arrivée du hub (journaux : {self.root / 'logs'})")

    def _wait_listening(self, name: str, port: int, host: str | None = None) -> None:
        """Print the addresses only once each page answers."""
        deadline = time.monotonic() + ROSTER_TIMEOUT_S
        while time.monotonic() < deadline:
            failed = self.failed_child()
            if failed is not None:
                raise RuntimeError(f"« {failed} » s'est arrêté (journaux : {self.root / 'logs'})")
            with contextlib.suppress(OSError), socket.create_connection((host or self.host, port), timeout=0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} ne répond pas sur le port {port} (journaux : {self.root / 'logs'})")

    def _start_door(self, config: Any) -> None:
        from gpiozero.pins.mock import MockFactory

        from access.daemon.door import Door

        factory = MockFactory()
        self.door = Door(config, pin_factory=factory)
        factory.pin(DOOR_PIN).drive_low()  # the door is closed (the sensor's pull-up alone would read "open")
        self.door.start()
        self.door_thread = threading.Thread(target=self.door.run, name="door", daemon=True)
        self.door_thread.start()

    def _start_simulator(self) -> None:
        import waitress

        from halfday.simulator import SampleBadge, Simulator, create_simulator_app

        badges = [SampleBadge(m.badge, m.label) for m in sample.MEMBERS if m.badge is not None]
        badges.append(SampleBadge(sample.UNKNOWN, "Badge inconnu"))
        simulator = Simulator(self.card, self.door.devices.pin_factory, DOOR_PIN, EXIT_PIN)
        app = create_simulator_app(simulator, badges, LOCK_PIN)
        self.simulator_server = waitress.create_server(app, host=self.host, port=self.ports["simulator"], threads=4)
        threading.Thread(target=self.simulator_server.run, name="simulator", daemon=True).start()

    def _print_addresses(self, history: int, config: Any) -> None:
        from kiosk.tls import current_fingerprint

        kiosk = f"http://127.0.0.1:{self.ports['kiosk']}"
        site = f"https://{self.host}:{self.ports['kiosk_https']}"
        print(
            "\nhalfday tourne, avec du matériel simulé.\n"
            f"  Écran tactile (kiosque) : {kiosk}/\n"
            f"  Affichage mural         : {kiosk}/display\n"
            f"  Administration          : {kiosk}/admin   (mot de passe : {DEMO_PASSWORD})\n"
            f"  Accueil par le réseau   : {site}/admin   (empreinte {current_fingerprint(config)})\n"
            f"  Simulateur de porte     : http://{self.host}:{self.ports['simulator']}/\n"
            f"  Hub du réseau           : http://{self.host}:{self.ports['hub']}/"
            f"   (compte {DEMO_LOGIN}, mot de passe : {DEMO_HUB_PASSWORD})\n"
            f"  ({history} passages du mois rejoués à la porte ; journaux dans {self.root / 'logs'})\n"
            "Ctrl-C pour tout arrêter.",
            flush=True,
        )

    # -------------------------------------------------------------------------------------------- processes

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "halfday", *args]

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            self._command(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.children.append((name, process))

    def _run(self, *args: str, stdin: str | None = None) -> None:
        result = subprocess.run(
            self._command(*args), input=stdin.encode() if stdin else None, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"halfday {' '.join(args)} : {result.stderr.decode(errors='replace').strip()}")

    # -------------------------------------------------------------------------------------------- stop

    def stop(self) -> None:
        if self.simulator_server is not None:
            self.simulator_server.close()
        if self.door is not None:
            self.door.stopping.set()
            if self.door_thread is not None:
                self.door_thread.join(5)
            self.door.stop()
        for _name, process in self.children:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for _name, process in self.children:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # The process group may hold helpers (the hub's worker processes): make sure they are gone too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.card is not None:
            self.card.close()
        if self.broker is not None:
            self.broker.stop()

    def failed_child(self) -> str | None:
        for name, process in self.children:
            if process.poll() is not None:
                return name
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="halfday demo", description="tout halfday sur cette machine, matériel simulé")
    parser.add_argument("--dir", type=Path, default=Path("var/demo"), help="dossier des données (recréé)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--kiosk-port", type=int, default=8080)
    parser.add_argument("--kiosk-https-port", type=int, default=8443)
    parser.add_argument("--simulator-port", type=int, default=8081)
    parser.add_argument("--hub-port", type=int, default=8090)
    parser.add_argument("--free-ports", action="store_true", help="prendre des ports libres (tests)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    ports = {
        "kiosk": args.kiosk_port,
        "kiosk_https": args.kiosk_https_port,
        "simulator": args.simulator_port,
        "hub": args.hub_port,
        "broker": free_port(),
    }
    if args.free_ports:
        ports.update(kiosk=free_port(), kiosk_https=free_port(), simulator=free_port(), hub=free_port())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    demo = Demo(args.dir.absolute(), args.host, ports)
    try:
        try:
            demo.start()
        except (RuntimeError, OSError) as exc:
            print(f"halfday demo : {exc}", file=sys.stderr)
            return 1
        while not stop.wait(1.0):
            failed = demo.failed_child()
            if failed is not None:
                print(
                    f"halfday demo : le processus « {failed} » s'est arrêté ; voir {demo.root / 'logs'}",
                    file=sys.stderr,
                )
                return 1
        return 0
    finally:
        print("Arrêt de la démonstration…", flush=True)
        demo.stop()
        print("Tout est arrêté.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
