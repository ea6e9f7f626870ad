"""The appliance's local bus as shipped (systemd/halfday-bus.conf and .acl), started for real on a free port.

The shipped configuration names the appliance's paths and port 1883; the test rewrites exactly those lines to a
free port and temporary files, and nothing else, so what runs is the appliance's own listener, authentication,
ACL and persistence settings. The broker is stopped by its PID.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.broker import Mosquitto, free_port

MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
REPO = Path(__file__).resolve().parents[2]
# The broker config and ACL the installer ships, and a password for each service's account.
CONF = REPO / "systemd" / "halfday-bus.conf"
ACL = REPO / "systemd" / "halfday-bus.acl"
PASSWORDS = {"door": "mot-de-passe-porte", "kiosk": "mot-de-passe-borne", "sync": "mot-de-passe-synchro"}
# Upper bound on any one broker answer (CONNACK, SUBACK, PUBACK, a message): generous for a loaded 2-core machine.
ANSWER_TIMEOUT_S = 10.0
POLL_S = 0.02

# The appliance's values in the shipped file, each replaced once by the test's.
APPLIANCE_LISTENER = "listener 1883 127.0.0.1"
APPLIANCE_PASSWORD_FILE = "password_file /etc/halfday/mosquitto.passwd"
APPLIANCE_ACL_FILE = "acl_file /etc/halfday/mosquitto.acl"
APPLIANCE_PERSISTENCE = "persistence_location /var/lib/halfday-bus/"
APPLIANCE_LOG = "log_dest stderr"


def rewrite_config(text: str, *, port: int, password_file: Path, acl_file: Path, workdir: Path) -> str:
    """The shipped mosquitto.conf with the port and paths of this test; fails if a line to rewrite is missing."""
    replacements = {
        APPLIANCE_LISTENER: f"listener {port} 127.0.0.1",
        APPLIANCE_PASSWORD_FILE: f"password_file {password_file}",
        APPLIANCE_ACL_FILE: f"acl_file {acl_file}",
        APPLIANCE_PERSISTENCE: f"persistence_location {workdir / 'data'}/",
        APPLIANCE_LOG: f"log_dest file {workdir / 'mosquitto.log'}",
    }
    lines = text.splitlines()
    for old, new in replacements.items():
        found = [i for i, line in enumerate(lines) if line.strip() == old]
        assert len(found) == 1, f"the shipped bus config should have the line {old!r} once"
        lines[found[0]] = new
    # The test may run as root, where Mosquitto would switch to the `mosquitto` account and lose access to the
    # temporary files; as any other user this line does nothing.
    lines.append("user root")
    return "\n".join(lines) + "\n"


def hash_passwords(path: Path, passwords: dict[str, str]) -> None:
    """Write `path` as Mosquitto's password file, with the real mosquitto_passwd, as the installer does."""
    path.write_text("".join(f"{user}:{password}\n" for user, password in passwords.items()))
    path.chmod(0o600)
    subprocess.run([MOSQUITTO_PASSWD, "-U", str(path)], check=True, capture_output=True)


class ApplianceBus(Mosquitto):
    """A Mosquitto process running a rewritten copy of an appliance bus configuration."""

    def __init__(self, config: Path, port: int, workdir: Path) -> None:
        super().__init__(workdir, port=port, config_path=config)
        self.config = config

    def start(self) -> ApplianceBus:  # type: ignore[override]
        super().start()
        return self


def start_appliance_bus(conf: Path, acl: Path, passwd: Path, workdir: Path) -> ApplianceBus:
    """Start the bus described by the appliance files `conf`, `acl` and `passwd` on a free port."""
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(rewrite_config(conf.read_text(), port=port, password_file=passwd, acl_file=acl, workdir=workdir))
    return ApplianceBus(config, port, workdir).start()


def start_shipped_bus(workdir: Path) -> ApplianceBus:
    """The appliance's bus as the installer sets it up (shipped config and ACL, the three accounts), on a free
    port, its files in `workdir`."""
    passwd = workdir / "mosquitto.passwd"
    hash_passwords(passwd, PASSWORDS)
    return start_appliance_bus(CONF, ACL, passwd, workdir)


@dataclass
class BusClient:
    """A paho MQTT v5 client that waits for the broker's answers and keeps what it receives."""

    port: int
    username: str | None
    password: str | None
    name: str
    connack: queue.Queue[ReasonCode] = field(default_factory=queue.Queue)
    subacks: queue.Queue[list[ReasonCode]] = field(default_factory=queue.Queue)
    received: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    _puback_ready: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.name, protocol=mqtt.MQTTv5)
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (success or why the broker refused)."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        return self.connack.get(timeout=ANSWER_TIMEOUT_S)

    def subscribe(self, topic: str) -> ReasonCode:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=ANSWER_TIMEOUT_S)[0]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code, once the broker has answered."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._puback_ready:
            assert self._puback_ready.wait_for(lambda: info.mid in self.pubacks, ANSWER_TIMEOUT_S), "no PUBACK"
            return self.pubacks.pop(info.mid)

    def next_message(self) -> tuple[str, bytes]:
        return self.received.get(timeout=ANSWER_TIMEOUT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason_code: ReasonCode, _props: Any) -> None:
        self.connack.put(reason_code)
        if reason_code.is_failure:
            self.client.disconnect()  # no reconnection attempts after a refusal

    def _on_subscribe(self, _client: Any, _userdata: Any, _mid: int, codes: list[ReasonCode], _props: Any) -> None:
        self.subacks.put(codes)

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received.put((message.topic, bytes(message.payload)))

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, reason_code: ReasonCode, _props: Any) -> None:
        with self._puback_ready:
            self.pubacks[mid] = reason_code
            self._puback_ready.notify_all()
