"""`halfday hub account`: the hub's accounts from the server's command line. The first network admin is made here
(the pages have no default password and nobody to sign in yet); a lost password is reset here too."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from sync.hub import accounts
from sync.hub.accounts import AccountError
from sync.hub.audit import Actor, Role
from sync.hub.db import HubDatabase
from sync.hub.models import Account

# Changes made on the server's command line are signed as such in the audit log.
SERVER = Actor("ligne de commande du serveur")


def add_account_parser(sub: Any) -> None:
    account = sub.add_parser("account", help="les comptes des gestionnaires du hub")
    verbs = account.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="créer un compte (le premier administrateur du réseau, par exemple)")
    add.add_argument("login", help="identifiant de connexion")
    add.add_argument("--name", default="", help="nom affiché")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.NETWORK_ADMIN.value)
    add.add_argument("--site", action="append", default=[], help="site géré (responsable de site ; répétable)")
    add.add_argument("--password-file", type=Path, help="lire le mot de passe dans ce fichier (sinon il est demandé)")
    password = verbs.add_parser("password", help="donner un nouveau mot de passe à un compte")
    password.add_argument("login")
    password.add_argument("--password-file", type=Path)
    verbs.add_parser("list", help="lister les comptes")


def run_account_command(database_url: str, args: argparse.Namespace) -> int:
    db = HubDatabase(database_url)
    try:
        if args.verb == "list":
            with db.read() as session:
                for a in accounts.all_accounts(session):
                    state = "actif" if a.active else "désactivé"
                    print(f"{a.login}\t{a.role}\t{','.join(a.sites) or 'tous les sites'}\t{state}")
            return 0
        secret = _password(args.password_file)
        if args.verb == "add":
            accounts.add_account(db, args.login, secret, args.role, name=args.name, sites=args.site, actor=SERVER)
            print(f"Compte {args.login.strip().lower()} créé.")
            return 0
        login = accounts.normalise_login(args.login)
        with db.read() as session:
            found = session.query(Account.id).filter(Account.login == login).scalar()
        if found is None:
            raise AccountError(f"aucun compte {login}")
        accounts.set_password(db, found, secret, actor=SERVER)
        print(f"Mot de passe de {login} changé : ses sessions ouvertes sont fermées.")
        return 0
    except AccountError as exc:
        print(f"halfday hub account : {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()


def _password(path: Path | None) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip("\n")
        except OSError as exc:
            raise AccountError(f"impossible de lire {path} : {exc.strerror}") from None
    first = getpass.getpass("Mot de passe : ")
    if first != getpass.getpass("Le même, encore : "):
        raise AccountError("les deux mots de passe ne sont pas identiques")
    return first
