"""`halfday privacy`: the retention the timer runs each night, a member's export and their erasure (PRIVACY.md)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from access import admin
from access.config import load_config
from access.db import Database
from access.privacy import EraseRefused, apply_retention, erase_member
from access.privacy_export import member_export
from common.privacy import export_json, export_zip

# What each retention count is called in the command's one line.
WHAT = {
    "events": "passage(s) anonymisé(s)",
    "sales": "vente(s) pseudonymisée(s)",
    "passes": "pass pseudonymisé(s)",
    "pass_cards": "carte(s) de pass oubliée(s)",
    "guests": "invité·e(s) anonymisé·e(s)",
    "bookings": "réservation(s) pseudonymisée(s)",
    "notices": "e-mail(s) envoyé(s) supprimé(s)",
    "hub_requests": "demande(s) au hub supprimée(s)",
}


class PrivacyError(admin.AdminError):
    """A refused privacy command (reported as one line by the CLI)."""


def add_privacy_commands(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="données personnelles (PRIVACY.md)").add_subparsers(metavar="ACTION")
    p = privacy.add_parser("apply", help="appliquer les durées de conservation (lancé chaque nuit)")
    p.set_defaults(handler=cmd_privacy_apply)
    p = privacy.add_parser("export", help="exporter tout ce que le site garde d'un membre (JSON et CSV)")
    p.add_argument("member", help="identifiant ou e-mail du membre")
    p.add_argument("--out-dir", type=Path, default=Path("."))
    p.set_defaults(handler=cmd_privacy_export)
    p = privacy.add_parser("erase", help="effacer un membre à sa demande (ses demi-journées restent comptées)")
    p.add_argument("member", help="identifiant ou e-mail du membre")
    p.add_argument("--yes", action="store_true", help="confirmer : l'effacement ne se défait pas")
    p.set_defaults(handler=cmd_privacy_erase)


def cmd_privacy_apply(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    db = Database(config.database_url)
    try:
        done = apply_retention(db, dt.datetime.now(dt.UTC), config.privacy)
    finally:
        db.dispose()
    said = ", ".join(f"{n} {WHAT[k]}" for k, n in done.counts.items()) or "rien à faire"
    print(f"Conservation appliquée : {said}")
    return 0


def cmd_privacy_export(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    db = Database(config.database_url)
    try:
        with db.read() as session:
            member = admin.find_member(session, args.member)
            sections = member_export(session, member.id)
    finally:
        db.dispose()
    assert sections is not None  # found just above, in the same read
    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.out_dir / f"membre-{member.id}.json"
    zip_path = args.out_dir / f"membre-{member.id}.zip"
    json_path.write_bytes(export_json(sections))
    zip_path.write_bytes(export_zip(sections))
    print(f"Données du membre : {json_path}, {zip_path}")
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if config.networked:
        raise PrivacyError("ce site est relié au hub : l'effacement se fait sur le hub, qui le transmet aux portes")
    db = Database(config.database_url)
    try:
        with db.write() as session:
            member = admin.find_member(session, args.member)
            name = member.full_name
            if not args.yes:
                raise PrivacyError(
                    f"effacer {name} retire son nom, son e-mail et ses badges pour de bon : relancez avec --yes"
                )
            try:
                if not erase_member(session, member.id, dt.datetime.now(dt.UTC), "desk"):
                    raise PrivacyError(f"{name} est déjà effacé·e")
            except EraseRefused as exc:
                raise PrivacyError(str(exc)) from None
    finally:
        db.dispose()
    print(f"{name} est effacé·e : ses demi-journées restent comptées")
    return 0
