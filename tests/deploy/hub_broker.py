"""The hub's broker as shipped (systemd/halfday-hub-broker.conf), started for real on free ports.

The shipped configuration names the hub's paths and ports; the test rewrites exactly those lines (the two
listeners, the TLS certificate and key, the plugin's file, persistence and the log) and nothing else, so what runs
is the hub's own authentication, ACL, packet limit and persistence settings. The plugin's first file and the two
passwords are written by `python -m sync.hub.broker_accounts init`, as on a hub, and the TLS certificate is a
throwaway one signed by a throwaway authority. The broker is stopped by its PID.

Other tests (the hub's end-to-end ones) start it with `running_hub_broker`: it gives the loopback address and the
credentials of the hub's workers, the TLS address and authority for the devices, and the settings the hub's pages
manage the devices' accounts with.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.config import BrokerConfig
from common.secrets import read_private_file
from sync.hub import broker_accounts
from sync.hub.broker_accounts import BrokerAccountsSettings, device_username
from sync.mqtt import MqttSettings
from tests.support.broker import Mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "systemd" / "halfday-hub-broker.conf"
HOST = "127.0.0.1"
ADMIN_USERNAME = "halfday-admin"
HUB_USERNAME = "halfday-hub"
# A broker answers the hub's admin within milliseconds; a loaded 2-core machine may need seconds.
ANSWER_TIMEOUT_S = 10.0

# The hub's values in the shipped file, each replaced once by the test's.
LOOPBACK_LISTENER = "listener 1883 127.0.0.1"
TLS_LISTENER = "listener 8883"
CERTFILE = "certfile /etc/halfday/hub-broker/server.crt"
KEYFILE = "keyfile /etc/halfday/hub-broker/server.key"
DYNSEC_FILE = "plugin_opt_config_file /var/lib/halfday-hub-broker/dynamic-security.json"
PERSISTENCE = "persistence_location /var/lib/halfday-hub-broker/"
LOG = "log_dest stderr"


@dataclass(frozen=True)
class Tls:
    """A throwaway authority and the broker's certificate it signed, for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def ca_pem(self) -> str:
        return self.ca_file.read_text()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(folder: Path) -> Tls:
    """Write a CA certificate, and the broker's certificate and key signed by it, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("halfday test network CA"))
        .issuer_name(_name("halfday test network CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # certificate and CRL signing only
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "ca.pem", folder / "server.crt", folder / "server.key")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls.key_file.chmod(0o600)
    return tls


def rewrite_config(text: str, *, port: int, tls_port: int, tls: Tls, dynsec_file: Path, workdir: Path) -> str:
    """The shipped hub-broker.conf with this test's ports and paths; fails if a line to rewrite is missing."""
    replacements = {
        LOOPBACK_LISTENER: f"listener {port} {HOST}",
        TLS_LISTENER: f"listener {tls_port} {HOST}",
        CERTFILE: f"certfile {tls.cert_file}",
        KEYFILE: f"keyfile {tls.key_file}",
        DYNSEC_FILE: f"plugin_opt_config_file {dynsec_file}",
        PERSISTENCE: f"persistence_location {workdir / 'data'}/",
        LOG: f"log_dest file {workdir / 'mosquitto.log'}",
    }
    lines = text.splitlines()
    for old, new in replacements.items():
        found = [i for i, line in enumerate(lines) if line.strip() == old]
        assert len(found) == 1, f"the shipped hub broker config should have the line {old!r} once"
        lines[found[0]] = new
    # Run as root, Mosquitto would switch to the `mosquitto` account and lose access to the temporary files; as any
    # other user this line does nothing.
    lines.append("user root")
    return "\n".join(lines) + "\n"


def shipped_plugin() -> Path:
    """The dynamic security plugin the shipped config loads; it must be on this machine."""
    lines = [line for line in CONF.read_text().splitlines() if line.startswith("plugin ")]
    assert len(lines) == 1, "the shipped hub broker config should load one plugin"
    plugin = Path(lines[0].split(maxsplit=1)[1])
    assert plugin.is_file(), f"{plugin} is missing: install Debian's mosquitto package (apt-get install mosquitto)"
    return plugin


@dataclass
class HubBroker:
    """A running hub broker: where the hub and the devices connect, and with what."""

    broker: Mosquitto
    tls_port: int
    tls: Tls
    hub_password: str
    admin_password_file: Path
    dynsec_file: Path

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def hub_url(self) -> str:
        """The loopback listener, where the hub's workers and pages connect (no TLS)."""
        return f"mqtt://{HOST}:{self.port}"

    @property
    def device_url(self) -> str:
        """The TLS listener, where the Pis connect (with `ca_file` as their authority)."""
        return f"mqtts://{HOST}:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def hub_username(self) -> str:
        return HUB_USERNAME

    def hub_settings(self) -> MqttSettings:
        """The hub's workers' connection (HubSettings.broker)."""
        return MqttSettings(HOST, self.port, username=HUB_USERNAME, password=self.hub_password)

    def accounts_settings(self) -> BrokerAccountsSettings:
        """What the hub's pages manage the devices' accounts with ([hub.broker_accounts])."""
        admin = BrokerConfig(self.hub_url, username=ADMIN_USERNAME, password_file=str(self.admin_password_file))
        return BrokerAccountsSettings(
            admin, self.device_url, device_ca_file=str(self.ca_file), answer_timeout_s=ANSWER_TIMEOUT_S
        )

    def device_settings(self, site: str, device: str, password: str) -> MqttSettings:
        """A device's connection over TLS, as its Pi makes it."""
        return MqttSettings(
            HOST,
            self.tls_port,
            tls=True,
            username=device_username(site, device),
            password=password,
            ca_file=str(self.ca_file),
        )

    def log(self) -> str:
        return self.broker.log()


def start_hub_broker(workdir: Path) -> HubBroker:
    """Write the first accounts, a certificate and the rewritten shipped config into `workdir`, start the broker."""
    shipped_plugin()
    workdir.mkdir(parents=True, exist_ok=True)
    admin_password_file = workdir / "broker-admin.password"
    hub_password_file = workdir / "broker-hub.password"
    dynsec_file = workdir / "dynamic-security.json"
    assert not dynsec_file.exists(), f"{dynsec_file} is there already: a new broker needs a new folder"
    init = ["init", "--dynsec-file", str(dynsec_file)]
    init += ["--admin-password-file", str(admin_password_file), "--hub-password-file", str(hub_password_file)]
    assert broker_accounts.main(init) == 0
    hub_password = read_private_file(hub_password_file).decode()
    tls = make_tls(workdir / "tls")
    port, tls_port = free_port(), free_port()
    while tls_port == port:
        tls_port = free_port()
    config = workdir / "hub-broker.conf"
    config.write_text(
        rewrite_config(
            CONF.read_text(), port=port, tls_port=tls_port, tls=tls, dynsec_file=dynsec_file, workdir=workdir
        )
    )
    broker = Mosquitto(workdir, port=port, config_path=config)
    broker.start()
    return HubBroker(broker, tls_port, tls, hub_password, admin_password_file, dynsec_file)


@contextmanager
def running_hub_broker(workdir: Path) -> Iterator[HubBroker]:
    """The shipped hub broker, running for the block, its files in `workdir`; stopped (SIGTERM) afterwards."""
    hub_broker = start_hub_broker(workdir)
    try:
        yield hub_broker
    finally:
        hub_broker.broker.stop()
