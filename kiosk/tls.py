"""The kiosk's own TLS certificate, for the admin and the wall display reached over the site's network.

A small space has no domain name and no certificate authority: the appliance makes a self-signed certificate at
install (`halfday kiosk certificate`, or its first start). A browser warns about it once; the manager then compares
the fingerprint it shows with the one on the wall display and in the admin, and knows no one sits in between.

The key is an ECDSA P-256 key (what every browser accepts; Ed25519 is not accepted for TLS by browsers), in a file
only the kiosk's user reads. The certificate is valid for ten years: an appliance that runs for years must not
one day show a new fingerprint nobody expects. `--renew` makes a new key and certificate on purpose.

Only making a key and a certificate needs `cryptography`; reading, checking and fingerprinting them is the standard
library's `ssl`, so the kiosk that runs all day does not hold `cryptography` in memory (bench.startup).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from access.config import Config
from common.files import write_atomically
from common.secrets import SecretFileError, private_file
from kiosk.auth import KioskSetupError, state_dir

CERTIFICATE_FILE = "kiosk-tls.crt"
KEY_FILE = "kiosk-tls.key"
VALID_DAYS = 3650


@dataclass(frozen=True)
class CertificateFiles:
    certificate: Path
    key: Path


def certificate_files(config: Config) -> CertificateFiles:
    """Where the kiosk keeps its certificate and key: the config's paths, or next to the database."""
    tls = config.kiosk
    if tls.tls_certificate_file and tls.tls_key_file:
        return CertificateFiles(Path(tls.tls_certificate_file), Path(tls.tls_key_file))
    folder = state_dir(config)
    return CertificateFiles(folder / CERTIFICATE_FILE, folder / KEY_FILE)


def host_names(config: Config) -> tuple[str, ...]:
    """The names the site's browsers may use for the kiosk: the configured ones, the machine's name (also with
    .local, as mDNS announces it) and localhost. Any other name in a request's Host is refused (DNS rebinding)."""
    machine = socket.gethostname().lower()
    names = [*config.kiosk.hostnames, machine, f"{machine}.local", "localhost"]
    return tuple(dict.fromkeys(name.lower() for name in names if name))


def fingerprint(certificate_pem: bytes) -> str:
    """The SHA-256 fingerprint of a certificate, as browsers show it: 32 pairs of hex digits."""
    text = certificate_pem.decode("ascii", errors="replace")
    footer = text.find(ssl.PEM_FOOTER)
    # The first certificate of the file: the site's own, ahead of any chain given with it.
    der = ssl.PEM_cert_to_DER_cert(
        text[text.find(ssl.PEM_HEADER) : footer + len(ssl.PEM_FOOTER)] if footer >= 0 else ""
    )
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _new_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_certificate(key_pem: bytes, names: tuple[str, ...], site_name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KioskSetupError("la clé TLS de la borne n'est pas une clé ECDSA : supprimez-la et recommencez")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"halfday · {site_name}"[:64]),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    alternative: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternative += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # a clock slightly behind still accepts it
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _matches(files: CertificateFiles) -> bool:
    """Whether the certificate on disk is sound and belongs to the key (OpenSSL checks both as it loads them)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(files.certificate, files.key)
    except (OSError, ssl.SSLError):
        return False
    return True


def ensure_certificate(config: Config, *, renew: bool = False) -> CertificateFiles:
    """The kiosk's key and certificate, made if missing (or with `renew`); a certificate that does not belong to
    the key (a key replaced by hand) is made again from the key."""
    files = certificate_files(config)
    if renew:
        for path in (files.key, files.certificate):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    try:
        key_pem = private_file(files.key, _new_key)
    except SecretFileError as exc:
        raise KioskSetupError(str(exc)) from None
    if not _matches(files):
        write_atomically(files.certificate, _new_certificate(key_pem, host_names(config), config.site.name))
    return files


def current_fingerprint(config: Config) -> str | None:
    """The fingerprint of the certificate the kiosk serves, or None when it serves none (no site listener, or no
    certificate made yet)."""
    if not config.kiosk.lan_host:
        return None
    try:
        return fingerprint(certificate_files(config).certificate.read_bytes())
    except (OSError, ValueError, KioskSetupError):
        return None
