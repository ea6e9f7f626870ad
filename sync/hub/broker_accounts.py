"""The hub's broker accounts: one account per door device, allowed only its own topics, made by the hub.

When the manager registers a door, the hub creates its account on the network's Mosquitto and prints the lines
that install it on the Pi (`installer_lines`); when a door is removed, its account stops working at once. The
hub's database is the source of truth: `reconcile` brings the broker back in line with the devices it lists.

The mechanism is Mosquitto's dynamic security plugin (2.0 and later), driven as an admin client over the
`$CONTROL/dynamic-security/v1` topic. It was chosen over a password file and an ACL file that the hub would write
and make Mosquitto reload: the hub runs as its own Unix user and could not signal the broker's process, a reload
re-reads every account of the network, and a half-written file would lock every door out. The plugin takes each
change at once, keeps its accounts in its own file (written by the broker, owned by the broker's user), closes
the connection of a client whose account is deleted or whose password or roles change, and checks every message
against the roles as they are now. On 2.0.11 (Debian 12) everything used here works; what it lacks is ACL
patterns (%u, %c), so each device gets a role of its own with its literal topics, and a shared subscription is
checked with its `$share/...` prefix, so the hub's role names it. A role changed in place does not close its
clients' connections on 2.0.11, nor drop their subscriptions: reading is therefore refused by default, so a
subscription made under a wider role brings nothing its role does not grant now.

A device's account is pinned to the client id of the appliance's sync agent (`device_client_id`): without it a
door holding its own valid account could connect under another door's client id and take over that door's
persistent session, kicking it off and losing the acknowledgements and commands queued for it.

The broker's first accounts, the admin that this module logs in as and the hub's workers, are written into the
plugin's file before the broker's first start (`python -m sync.hub.broker_accounts init`, see
systemd/halfday-hub-broker.conf); after that the broker owns the file.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shlex
import ssl
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from common.config import BrokerConfig
from common.secrets import SecretFileError, private_file, read_private_file
from sync.mqtt import KEEPALIVE_S, MqttSettings
from sync.protocol import ID_RE, SHARE_GROUP, delta_topic, roster_topic
from sync.protocol import device_client_id as protocol_client_id

__all__ = [
    "BrokerAccounts",
    "BrokerAccountsError",
    "BrokerAccountsSettings",
    "Reconciled",
    "device_client_id",
    "device_username",
    "installer_lines",
    "new_password",
    "parse_device_username",
    "seed_document",
    "write_seed",
]

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
# How long the broker has to answer a command (or the connection to come up): it answers a loopback client within
# milliseconds; seconds mean it is down, overloaded, or has no dynamic security plugin loaded.
ANSWER_TIMEOUT_S = 5.0
# Commands sent in one message: a whole network re-applied in one go stays far below the broker's packet limit.
COMMANDS_PER_MESSAGE = 100
# Device passwords: 32 random bytes in hex, as strong as the hub's other secrets, and nothing in them a shell, a
# URL or a TOML string would read specially.
PASSWORD_BYTES = 32
MIN_PASSWORD_CHARS = 32
# A device's role is named after its username; the hub's and the admin's are fixed. A device username is
# "site.device": neither id may hold a dot, so the split is never ambiguous, and no fixed account has one.
DEVICE_ROLE_PREFIX = "device:"
HUB_ROLE = "halfday-hub"
ADMIN_ROLE = "halfday-admin"
DEFAULT_ADMIN_USERNAME = "halfday-admin"
DEFAULT_HUB_USERNAME = "halfday-hub"
# The plugin's own password hashing (PBKDF2-SHA512, 12-byte salt, 101 rounds), used for the accounts written
# before the first start so the broker reads them like its own. The passwords are random, 256 bits: rounds
# would protect a guessable password, not these.
HASH_NAME = "sha512"
SALT_BYTES = 12
HASH_ITERATIONS = 101
# Where the Debian package's broker finds the plugin's file (systemd/halfday-hub-broker.conf).
DYNSEC_FILE = "/var/lib/halfday-hub-broker/dynamic-security.json"
SECRETS_DIR = "/etc/halfday/hub"
INSTALLER = "install/install-pi.sh"
# Files the printed lines make in the folder they run in, and remove once the installer has copied them.
PASSWORD_FILE_ON_PI = "halfday-hub-password"
CA_FILE_ON_PI = "halfday-hub-ca.pem"
# Errors of the plugin that mean the state asked for is already there.
ALREADY = {
    "createRole": "Role already exists",
    "createClient": "Client already exists",
    "deleteClient": "Client not found",
    "deleteRole": "Role not found",
}
_DEVICE_USERNAME_RE = re.compile(rf"({ID_RE.pattern})\.({ID_RE.pattern})")


class BrokerAccountsError(Exception):
    """The broker could not be reached or refused a change; the message, in French, is for the manager."""


# ---------------------------------------------------------------------------------------------- names


def _ident(value: str, what: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise ValueError(f"{what} {value!r} : attendu des minuscules, chiffres et tirets (ex. door-1)")
    return value


def device_username(site: str, device: str) -> str:
    """The broker username of a device: "site.device" (ids never hold a dot, so it reads back one way only)."""
    return f"{_ident(site, 'site')}.{_ident(device, 'porte')}"


def parse_device_username(username: str) -> tuple[str, str] | None:
    """(site, device) of a device username; None for any other account (the hub's, the admin's)."""
    match = _DEVICE_USERNAME_RE.fullmatch(username)
    return (match.group(1), match.group(2)) if match else None


def device_client_id(site: str, device: str) -> str:
    """The MQTT client id the appliance's sync agent connects with (sync/agent), to which its account is pinned."""
    return protocol_client_id(_ident(site, "site"), _ident(device, "porte"))


def new_password() -> str:
    """A new device password: 64 hex characters (256 bits)."""
    return secrets.token_hex(PASSWORD_BYTES)


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}


def device_acls(site: str, device: str) -> list[dict[str, Any]]:
    """A device publishes and subscribes under its own topics and reads its site's snapshots, their parts and its
    deltas (sync/PROTOCOL.md, "Transport"); everything else is refused by the broker's default (`seed_document`)."""
    own = f"halfday/v1/{_ident(site, 'site')}/{_ident(device, 'porte')}/#"
    roster, parts, delta = roster_topic(site), f"{roster_topic(site)}/+", delta_topic(site)
    return [
        _acl("publishClientSend", own),
        _acl("publishClientReceive", own),
        _acl("subscribePattern", own),
        _acl("publishClientReceive", roster),
        _acl("subscribeLiteral", roster),
        _acl("publishClientReceive", parts),
        _acl("subscribeLiteral", parts),
        _acl("publishClientReceive", delta),
        _acl("subscribeLiteral", delta),
    ]


def hub_acls() -> list[dict[str, Any]]:
    """The hub's workers read and write every halfday topic, through their shared subscriptions too (checked by
    the broker with the `$share/hub/` prefix)."""
    every = "halfday/v1/#"
    return [
        _acl("publishClientSend", every),
        _acl("publishClientReceive", every),
        _acl("subscribePattern", every),
        _acl("subscribePattern", f"$share/{SHARE_GROUP}/{every}"),
    ]


def admin_acls() -> list[dict[str, Any]]:
    """The admin sends commands to the plugin and reads its answers, and nothing of the network's messages."""
    control = "$CONTROL/dynamic-security/#"
    return [
        _acl("publishClientSend", control),
        _acl("publishClientReceive", control),
        _acl("subscribePattern", control),
    ]


def _role_name(username: str) -> str:
    return DEVICE_ROLE_PREFIX + username


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class BrokerAccountsSettings:
    """How the hub manages its broker's accounts ([hub.broker_accounts] of hub.toml).

    `broker` is the admin's connection: its URL (the broker's loopback listener), username and password file (the
    password is read with common.secrets, so the file must be the hub's alone). `device_url` is the address the
    Pis reach the broker at (mqtts://hub.example.org:8883), and `device_ca_file` the certificate of the authority
    that signed the broker's TLS certificate, when the Pis cannot know it (a network's own authority).
    """

    broker: BrokerConfig
    device_url: str
    device_ca_file: str | None = None
    answer_timeout_s: float = ANSWER_TIMEOUT_S


@dataclass(frozen=True)
class Reconciled:
    """What `reconcile` found: devices of the hub without an account (each needs a new password, given to its
    Pi), and accounts of devices the hub no longer lists, now deleted."""

    missing: tuple[tuple[str, str], ...]
    removed: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- the admin client


class BrokerAccounts:
    """The hub's admin connection to its broker's dynamic security plugin.

    Connects on first use and again after the broker went away; one command at a time (a manager's clicks are
    rare). Every method raises BrokerAccountsError, with a French message, when the broker cannot do what it asks.
    """

    def __init__(self, settings: BrokerAccountsSettings) -> None:
        self.settings = settings
        broker = settings.broker
        if not broker.username or not broker.password_file:
            raise BrokerAccountsError(
                "le compte d'administration du broker demande un identifiant et un fichier de mot de passe"
            )
        try:
            password = read_private_file(Path(broker.password_file)).decode()
            self._mqtt = MqttSettings.from_config(dataclasses.replace(broker, password_file=None), password=password)
        except SecretFileError as exc:
            raise BrokerAccountsError(f"mot de passe d'administration du broker : {exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise BrokerAccountsError(f"compte d'administration du broker : {exc}") from None
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._client: paho.Client | None = None
        self._ready = False
        self._refused: str | None = None
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._denied: set[int] = set()

    # ------------------------------------------------------------------------------------------ the API

    def add_device(self, site: str, device: str, password: str) -> None:
        """Create the device's account with `password`, or reset it to `password` if it exists (its connection,
        if any, is closed: it must log in again with the new password). Idempotent."""
        username = device_username(site, device)
        if len(password) < MIN_PASSWORD_CHARS or not password.isascii() or not password.isprintable():
            raise ValueError(f"mot de passe trop faible pour {username} : new_password() en donne un bon")
        role = _role_name(username)
        acls = device_acls(site, device)
        client = {"username": username, "password": password, "clientid": device_client_id(site, device)}
        # Create what is missing, then set both to exactly this: one message, whatever was there before.
        self._run(
            [
                {"command": "createRole", "rolename": role, "acls": acls},
                {"command": "modifyRole", "rolename": role, "acls": acls},
                {"command": "createClient", **client, "roles": [{"rolename": role}]},
                {"command": "modifyClient", **client, "roles": [{"rolename": role}], "groups": []},
            ]
        )

    def remove_device(self, site: str, device: str) -> None:
        """Delete the device's account and role: its connection is closed and it cannot log in again. Idempotent."""
        username = device_username(site, device)
        self._run(
            [
                {"command": "deleteClient", "username": username},
                {"command": "deleteRole", "rolename": _role_name(username)},
            ]
        )

    def reconcile(self, devices: Iterable[tuple[str, str]]) -> Reconciled:
        """Make the broker's device accounts those of `devices` (the hub's database): restore each listed
        device's role and pinning where they drifted, delete the accounts of devices no longer listed, and report
        listed devices without an account. Passwords are never kept by the hub, so those need a new one
        (`add_device`). The hub's own role is set to what this module says. Idempotent: a device whose account
        is right is left as it is, connected."""
        wanted = {device_username(site, device): (site, device) for site, device in devices}
        listing = self._run([{"command": "listClients"}, {"command": "listRoles"}])
        clients = set(listing[0].get("data", {}).get("clients", []))
        roles = set(listing[1].get("data", {}).get("roles", []))
        present = sorted(set(wanted) & clients)
        known_roles = [role for role in [HUB_ROLE, *map(_role_name, present)] if role in roles]
        details = self._run(
            [{"command": "getClient", "username": name} for name in present]
            + [{"command": "getRole", "rolename": role} for role in known_roles]
        )
        found_clients = {d["data"]["client"]["username"]: d["data"]["client"] for d in details[: len(present)]}
        found_roles = {d["data"]["role"]["rolename"]: d["data"]["role"] for d in details[len(present) :]}
        # The hub's role as this module says. The admin's role is left alone: this very connection holds it.
        repairs: list[dict[str, Any]] = []
        if HUB_ROLE not in roles:
            repairs.append({"command": "createRole", "rolename": HUB_ROLE, "acls": hub_acls()})
        else:
            repairs += _unless_same(found_roles.get(HUB_ROLE), HUB_ROLE, hub_acls())
        for name in present:
            site, device = wanted[name]
            role = _role_name(name)
            acls = device_acls(site, device)
            if role not in roles:
                repairs.append({"command": "createRole", "rolename": role, "acls": acls})
            else:
                repairs += _unless_same(found_roles.get(role), role, acls)
            client = found_clients[name]
            pinned = device_client_id(site, device)
            roles_now = [r.get("rolename") for r in client.get("roles", [])]
            if client.get("clientid") != pinned or roles_now != [role] or client.get("groups"):
                # Its own role and no group: a group's roles would give it more than its own topics.
                exact = {"clientid": pinned, "roles": [{"rolename": role}], "groups": []}
                repairs.append({"command": "modifyClient", "username": name, **exact})
        stale = sorted(name for name in clients - set(wanted) if parse_device_username(name))
        stale_roles = sorted(
            role
            for role in roles
            if role.startswith(DEVICE_ROLE_PREFIX) and role.removeprefix(DEVICE_ROLE_PREFIX) not in wanted
        )
        repairs += [{"command": "deleteClient", "username": name} for name in stale]
        repairs += [{"command": "deleteRole", "rolename": role} for role in stale_roles]
        self._run(repairs)
        missing = tuple(wanted[name] for name in sorted(set(wanted) - clients))
        return Reconciled(missing=missing, removed=tuple(stale))

    def usernames(self) -> list[str]:
        """Every account of the broker: the devices' ("site.device"), the hub's and the admin's."""
        return sorted(self._run([{"command": "listClients"}])[0].get("data", {}).get("clients", []))

    def close(self) -> None:
        """Disconnect from the broker (the next call would connect again)."""
        with self._lock:
            self._drop()

    def __enter__(self) -> BrokerAccounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ commands

    def _run(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send `commands` in order; their answers, in order. An error the state asked for makes true (a role
        that already exists, a client already gone) is no error."""
        answers: list[dict[str, Any]] = []
        for start in range(0, len(commands), COMMANDS_PER_MESSAGE):
            answers += self._call(commands[start : start + COMMANDS_PER_MESSAGE])
        for command, answer in zip(commands, answers, strict=True):
            error = answer.get("error")
            if error and ALREADY.get(command["command"]) != error:
                what = command.get("username") or command.get("rolename") or ""
                raise BrokerAccountsError(f"le broker du hub a refusé « {command['command']} {what} » : {error}")
        return answers

    def _call(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        call = uuid.uuid4().hex
        tagged = [{**command, "correlationData": f"{call}/{i}"} for i, command in enumerate(commands)]
        payload = json.dumps({"commands": tagged}).encode()
        timeout = self.settings.answer_timeout_s
        with self._lock:
            client = self._connected()
            info = client.publish(CONTROL_TOPIC, payload, qos=1)
            with self._cond:
                answered = self._cond.wait_for(lambda: call in self._answers or info.mid in self._denied, timeout)
                responses = self._answers.pop(call, None)
                denied = info.mid in self._denied
                self._denied.discard(info.mid)
            if denied:
                raise BrokerAccountsError(
                    f"le compte « {self._mqtt.username} » n'a pas le droit d'administrer le broker du hub "
                    f"(rôle {ADMIN_ROLE} attendu)"
                )
            if not answered or responses is None:
                # Whatever state the connection is in, the next call starts from a fresh one.
                self._drop()
                raise BrokerAccountsError(
                    f"le broker du hub ({self._where()}) n'a pas répondu en {timeout:g} s : le greffon de sécurité "
                    "dynamique est-il chargé (plugin dans halfday-hub-broker.conf) ?"
                )
        by_tag = {str(r.get("correlationData")): r for r in responses}
        try:
            return [by_tag[f"{call}/{i}"] for i in range(len(commands))]
        except KeyError:
            raise BrokerAccountsError("le broker du hub a renvoyé une réponse incomplète") from None

    def _where(self) -> str:
        return f"{self._mqtt.host}:{self._mqtt.port}"

    # ------------------------------------------------------------------------------------------ connection

    def _connected(self) -> paho.Client:
        """The admin connection, subscribed to the plugin's answers; made anew if the last one is gone."""
        with self._cond:
            if self._client is not None and self._ready:
                return self._client
        self._drop()
        settings = self._mqtt
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"halfday-accounts-{uuid.uuid4().hex[:12]}",
            protocol=paho.MQTTv5,
        )
        client.username_pw_set(settings.username, settings.password)
        if settings.tls or settings.ca_file:
            client.tls_set(
                ca_certs=settings.ca_file,
                certfile=settings.cert_file,
                keyfile=settings.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.connect_timeout = self.settings.answer_timeout_s
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        with self._cond:
            self._refused = None
        try:
            client.connect(settings.host, settings.port, keepalive=KEEPALIVE_S)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerAccountsError(
                f"le broker du hub ({self._where()}) est injoignable : {exc}. Le service halfday-hub-broker "
                "tourne-t-il ?"
            ) from None
        self._client = client
        client.loop_start()
        with self._cond:
            self._cond.wait_for(lambda: self._ready or self._refused is not None, self.settings.answer_timeout_s)
            ready, refused = self._ready, self._refused
        if ready:
            return client
        self._drop()
        if refused is not None:
            raise BrokerAccountsError(refused)
        raise BrokerAccountsError(f"le broker du hub ({self._where()}) n'a pas accepté la connexion à temps")

    def _drop(self) -> None:
        client, self._client = self._client, None
        with self._cond:
            self._ready = False
            self._answers.clear()
            self._denied.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:
            with self._cond:
                self._refused = (
                    f"le broker du hub refuse le compte d'administration « {self._mqtt.username} » ({reason}) : "
                    f"vérifiez son mot de passe ({self.settings.broker.password_file})"
                )
                self._cond.notify_all()
            return
        # Subscribed again on every connection: the session is a clean one.
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _client: Any, _userdata: Any, _mid: int, codes: list[ReasonCode], _props: Any) -> None:
        with self._cond:
            if codes and not codes[0].is_failure:
                self._ready = True
            else:
                self._refused = (
                    f"le compte « {self._mqtt.username} » ne peut pas lire les réponses du broker du hub "
                    f"(rôle {ADMIN_ROLE} attendu)"
                )
            self._cond.notify_all()

    def _on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
            call = str(responses[0]["correlationData"]).split("/")[0]
        except (ValueError, KeyError, IndexError, TypeError):
            return  # an answer to another admin client, or not one of ours
        with self._cond:
            self._answers[call] = responses
            self._cond.notify_all()

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:
            with self._cond:
                self._denied.add(mid)
                self._cond.notify_all()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, _reason: Any, _props: Any) -> None:
        with self._cond:
            self._ready = False
            self._cond.notify_all()


def _unless_same(found: Mapping[str, Any] | None, role: str, acls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A modifyRole to `acls`, unless the role already has exactly those: re-applying the hub's list to a broker
    that agrees with it changes nothing there."""

    def key(acl: Mapping[str, Any]) -> tuple[str, str, int, bool]:
        return (str(acl.get("acltype")), str(acl.get("topic")), int(acl.get("priority", 0)), bool(acl.get("allow")))

    if found is not None and sorted(map(key, found.get("acls", []))) == sorted(map(key, acls)):
        return []
    return [{"command": "modifyRole", "rolename": role, "acls": acls}]


# ---------------------------------------------------------------------------------------------- the Pi's lines


def installer_lines(
    *,
    site: str,
    device: str,
    username: str,
    password: str,
    hub_url: str,
    public_key_b64: str,
    ca_pem: str | None = None,
    site_name: str | None = None,
) -> str:
    """The shell lines that join a Pi to the hub as this device, with install/install-pi.sh, to run in the folder
    of halfday's sources on the Pi. `ca_pem`: the broker's certificate authority, when the Pi cannot know it;
    `site_name`: the site's name, for a Pi installed from scratch.

    The password goes through a file the lines make private and remove; its line starts with a space, which
    Debian's bash keeps out of the history (HISTCONTROL=ignoreboth)."""
    if not hub_url.startswith("mqtts://"):
        raise ValueError("l'adresse du broker pour les Pis doit commencer par mqtts:// (install-pi.sh l'exige)")
    if username != device_username(site, device):
        raise ValueError(f"le compte de {site}/{device} sur le broker est {device_username(site, device)}")
    q = shlex.quote
    lines = [
        f"# halfday : porte « {device} » du site « {site} ». Sur le Raspberry Pi de cette porte, dans le dossier",
        "# des sources de halfday. Le mot de passe n'est montré qu'une fois : le hub ne le garde pas.",
        f" (umask 077 && printf '%s\\n' {q(password)} > {PASSWORD_FILE_ON_PI})",
    ]
    ca_option = ""
    if ca_pem is not None:
        if "-----BEGIN CERTIFICATE-----" not in ca_pem or "\nEOF\n" in f"\n{ca_pem}\n":
            raise ValueError("ca_pem doit être un certificat PEM")
        lines += [f"cat > {CA_FILE_ON_PI} <<'EOF'", *ca_pem.strip().splitlines(), "EOF"]
        ca_option = f" --hub-ca {CA_FILE_ON_PI}"
    lines += [
        f"sudo {INSTALLER} --site-id {q(site)} --device-id {q(device)}"
        + (f" --site-name {q(site_name)}" if site_name else "")
        + " \\",
        f"    --hub-url {q(hub_url)} \\",
        f"    --hub-public-key {q(public_key_b64)} --hub-username {q(username)} \\",
        f"    --hub-password-file {PASSWORD_FILE_ON_PI}{ca_option}",
        f"rm -f {PASSWORD_FILE_ON_PI}" + (f" {CA_FILE_ON_PI}" if ca_pem is not None else ""),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- first accounts


def _hashed_client(username: str, password: str, role: str) -> dict[str, Any]:
    salt = os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac(HASH_NAME, password.encode(), salt, HASH_ITERATIONS)
    return {
        "username": username,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": HASH_ITERATIONS,
        "roles": [{"rolename": role}],
    }


def seed_document(*, admin_username: str, admin_password: str, hub_username: str, hub_password: str) -> dict[str, Any]:
    """The plugin's file before the broker's first start: the admin and the hub's workers, their two roles, and
    everything refused by default, reading included (a device reads only what its role grants)."""
    for name in (admin_username, hub_username):
        if parse_device_username(name) is not None or not name.strip():
            raise ValueError(f"« {name} » ne peut pas nommer un compte du hub : il a la forme d'une porte")
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [
            _hashed_client(admin_username, admin_password, ADMIN_ROLE),
            _hashed_client(hub_username, hub_password, HUB_ROLE),
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls()},
            {"rolename": HUB_ROLE, "acls": hub_acls()},
        ],
    }


def write_seed(target: Path, document: Mapping[str, Any]) -> bool:
    """Write the plugin's first file at `target` (0600); False, and nothing written, if one is there already: from
    its first start the broker owns it, with every device account in it."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-dynsec-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, target)  # never over a file another run wrote meanwhile
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    return True


def _new_secret() -> bytes:
    return new_password().encode()


def main(argv: list[str] | None = None) -> int:
    """`python -m sync.hub.broker_accounts init`: the hub broker's first accounts, once, before its first start."""
    parser = argparse.ArgumentParser(
        prog="python -m sync.hub.broker_accounts",
        description="Comptes du broker du hub : le compte d'administration et celui des workers, avant le premier "
        "démarrage de halfday-hub-broker.",
    )
    sub = parser.add_subparsers(dest="what", required=True)
    init = sub.add_parser("init", help="écrire le fichier du greffon de sécurité dynamique et les mots de passe")
    init.add_argument("--dynsec-file", default=DYNSEC_FILE, help=f"défaut : {DYNSEC_FILE}")
    init.add_argument("--admin-username", default=DEFAULT_ADMIN_USERNAME)
    init.add_argument("--admin-password-file", default=f"{SECRETS_DIR}/broker-admin.password")
    init.add_argument("--hub-username", default=DEFAULT_HUB_USERNAME)
    init.add_argument("--hub-password-file", default=f"{SECRETS_DIR}/broker-hub.password")
    args = parser.parse_args(argv)
    try:
        # Made once, 0600, kept: running this again never changes a password the hub already uses.
        admin_password = private_file(Path(args.admin_password_file), _new_secret).decode()
        hub_password = private_file(Path(args.hub_password_file), _new_secret).decode()
        document = seed_document(
            admin_username=args.admin_username,
            admin_password=admin_password,
            hub_username=args.hub_username,
            hub_password=hub_password,
        )
    except (SecretFileError, ValueError) as exc:
        print(f"broker du hub : {exc}", file=sys.stderr)
        return 2
    target = Path(args.dynsec_file)
    if write_seed(target, document):
        print(f"Comptes {args.admin_username} et {args.hub_username} écrits dans {target}")
    else:
        print(f"{target} existe déjà : le broker y tient ses comptes, rien n'a changé")
    print(
        "Dans /etc/halfday/hub.toml (les deux fichiers de mot de passe doivent appartenir à halfday-hub) :\n\n"
        f'[hub.broker]\nurl = "mqtt://127.0.0.1:1883"\nusername = "{args.hub_username}"\n'
        f'password_file = "{args.hub_password_file}"\n\n'
        f'[hub.broker_accounts]\nusername = "{args.admin_username}"\n'
        f'password_file = "{args.admin_password_file}"\ndevice_url = "mqtts://hub.example.org:8883"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
