"""`halfday hub privacy`: the retention on demand (the workers run it daily), a member's export and erasure, for the
server's administrator (the pages do the same for managers)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from common.privacy import export_json, export_zip
from sync.hub.admin import HubError
from sync.hub.audit import SYSTEM
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.privacy import apply_retention, erase_member, member_export


def add_privacy_parser(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="données personnelles (PRIVACY.md)")
    actions = privacy.add_subparsers(dest="privacy_action", required=True)
    actions.add_parser("apply", help="appliquer les durées de conservation maintenant")
    p = actions.add_parser("export", help="exporter tout ce que le hub garde d'un membre (JSON et CSV)")
    p.add_argument("member", help="identifiant du membre")
    p.add_argument("--out-dir", type=Path, default=Path("."))
    p = actions.add_parser("erase", help="effacer un membre à sa demande (ses demi-journées restent comptées)")
    p.add_argument("member", help="identifiant du membre")
    p.add_argument("--yes", action="store_true", help="confirmer : l'effacement ne se défait pas")


def run_privacy_command(settings: HubSettings, args: argparse.Namespace) -> int:
    db = HubDatabase(settings.database_url)
    try:
        if args.privacy_action == "apply":
            done = apply_retention(db, dt.datetime.now(dt.UTC), settings.privacy)
            print("Conservation appliquée : " + (", ".join(f"{k} {n}" for k, n in done.items()) or "rien à faire"))
            return 0
        if args.privacy_action == "export":
            with db.read() as session:
                sections = member_export(session, args.member, SYSTEM)
            args.out_dir.mkdir(parents=True, exist_ok=True)
            paths = [args.out_dir / f"membre-{args.member}.{ext}" for ext in ("json", "zip")]
            paths[0].write_bytes(export_json(sections))
            paths[1].write_bytes(export_zip(sections))
            print(f"Données du membre : {paths[0]}, {paths[1]}")
            return 0
        if not args.yes:
            print("halfday hub : l'effacement ne se défait pas : relancez avec --yes")
            return 1
        print(f"Membre effacé : il s'appelle désormais « {erase_member(db, args.member, actor=SYSTEM)} »")
        return 0
    except HubError as exc:
        print(f"halfday hub : {exc}")
        return 1
    finally:
        db.dispose()
