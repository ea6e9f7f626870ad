"""The kiosk's certificate: made once, kept, made again only when it no longer belongs to the key, and its
fingerprint the one a browser shows. `cryptography` is the reference here; the running kiosk does without it."""

from __future__ import annotations

from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from kiosk.tls import certificate_files, ensure_certificate, fingerprint
from tests.support.site import Site


def browser_fingerprint(pem: bytes) -> str:
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def certificate_key(pem: bytes) -> bytes:
    return (
        x509.load_pem_x509_certificate(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def key_of(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_certificate_is_kept_remade_for_a_new_key_and_fingerprinted_as_browsers_do(
    new_site: Callable[..., Site],
) -> None:
    site = new_site(overrides={"kiosk": {"lan_host": "127.0.0.1"}})
    files = ensure_certificate(site.config)
    first = files.certificate.read_bytes()
    assert certificate_key(first) == key_of(files.key.read_bytes())
    assert fingerprint(first) == browser_fingerprint(first)

    # Started again: the same certificate, the fingerprint the manager compared stays true.
    assert ensure_certificate(site.config).certificate.read_bytes() == first

    # A damaged certificate is made again from the same key.
    files.certificate.write_bytes(first[: len(first) // 2])
    again = ensure_certificate(site.config).certificate.read_bytes()
    assert certificate_key(again) == certificate_key(first)

    # A key lost (or replaced by hand): the certificate follows the new key.
    files.key.unlink()
    replaced = ensure_certificate(site.config).certificate.read_bytes()
    assert certificate_key(replaced) == key_of(files.key.read_bytes()) != certificate_key(again)


def test_the_fingerprint_of_a_chain_is_the_sites_certificate_and_garbage_is_refused(
    new_site: Callable[..., Site],
) -> None:
    site = new_site(overrides={"kiosk": {"lan_host": "127.0.0.1"}})
    own = ensure_certificate(site.config).certificate.read_bytes()
    other = new_site("other", overrides={"kiosk": {"lan_host": "127.0.0.1"}})
    issuer = ensure_certificate(other.config).certificate.read_bytes()
    assert fingerprint(own + issuer) == browser_fingerprint(own) != browser_fingerprint(issuer)
    for garbage in (b"", b"not a certificate", own.replace(b"CERTIFICATE", b"PUBLIC KEY")):
        try:
            fingerprint(garbage)
        except ValueError:
            continue
        raise AssertionError(f"{garbage[:20]!r} was given a fingerprint")
    assert certificate_files(site.config).certificate.parent == certificate_files(site.config).key.parent
