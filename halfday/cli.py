"""The `halfday` command: set up a site, manage members, badges and plans, export usage, run the daemons.

Errors are one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from access import admin, closure_days, importer, incarnation, reports, resources
from access.backup import BackupError, backup
from access.config import Config, load_config
from access.db import Database, migrate
from access.default_config import render
from access.models import Balance, Credential, Member, Plan, Resource, Subscription, Use
from access.restore import RestoreError, restore
from access.store import effective_until, spent_since_balances
from common.config import Table
from common.daemons import SITE_CONFIG
from common.weekdays import day_names, weekdays_label
from common.words import BookKind
from halfday.books_cli import add_books_parsers, add_payment_options, sell
from halfday.command import RUNNERS, CliError, guarded, run
from halfday.privacy_cli import add_privacy_commands
from halfday.upgrade import Report, UpgradeError, upgrade

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    """The commands (halfday/command.py starts the daemons without importing this module)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in RUNNERS:
        return run(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    return guarded(lambda: args.handler(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="halfday", description="Porte, kiosque et demi-journées d'un tiers-lieu")
    parser.add_argument(
        "--config",
        default=os.environ.get("HALFDAY_CONFIG", SITE_CONFIG),
        help=f"fichier de configuration (défaut : $HALFDAY_CONFIG ou {SITE_CONFIG})",
    )
    sub = parser.add_subparsers(metavar="COMMANDE")

    p = sub.add_parser("init", help="écrire une configuration commentée et créer la base")
    p.add_argument("--site-id", default="mon-tiers-lieu")
    p.add_argument("--name", default="Mon tiers-lieu")
    p.add_argument("--database", help="chemin du fichier SQLite (défaut : à côté de la configuration)")
    p.add_argument("--reader", default="udp:127.0.0.1:54321", help="chemin du lecteur NFC pour nfcpy")
    p.add_argument("--pin-factory", default="mock", choices=("mock", "lgpio", "rpigpio"))
    p.add_argument("--force", action="store_true", help="remplacer une configuration existante")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("migrate", help="mettre la base au dernier schéma")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("backup", help="sauvegarder la base (vérifiée) dans le dossier backups, et sur la clé USB")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", help="remplacer une base endommagée par une sauvegarde vérifiée")
    p.add_argument("file", nargs="?", type=Path, help="la sauvegarde (défaut : la plus récente du dossier backups)")
    p.add_argument("--force", action="store_true", help="remplacer même une base saine")
    p.set_defaults(handler=cmd_restore)

    p = sub.add_parser(
        "upgrade", help="installer une nouvelle version (sauvegarde avant, retour arrière si la porte échoue)"
    )
    p.add_argument("package", type=Path, help="le paquet de la nouvelle version (fichier .whl ou .tar.gz)")
    p.add_argument("--venv", type=Path, default=Path(sys.prefix), help="l'environnement de halfday (défaut : celui-ci)")
    p.add_argument("--timeout", type=float, default=90.0, help="secondes laissées à la porte pour être prête")
    p.set_defaults(handler=cmd_upgrade)

    p = sub.add_parser(
        "resume", help="porte réinstallée sans sauvegarde : reprendre ses numéros d'événements après ceux du hub"
    )
    p.set_defaults(handler=cmd_resume)

    member = sub.add_parser("member", help="membres").add_subparsers(metavar="ACTION")
    p = member.add_parser("add", help="ajouter un membre")
    p.add_argument("first_name")
    p.add_argument("last_name", nargs="?", default="")
    p.add_argument("--email")
    p.add_argument("--plan", help="nom de la formule")
    p.add_argument("--badge", help="UID du badge NFC")
    p.add_argument("--from", dest="valid_from", help="début AAAA-MM-JJ")
    p.add_argument("--until", dest="valid_until", help="fin AAAA-MM-JJ")
    p.set_defaults(handler=cmd_member_add)
    p = member.add_parser("list", help="lister les membres")
    p.set_defaults(handler=cmd_member_list)
    p = member.add_parser("show", help="afficher un membre")
    p.add_argument("member", help="identifiant, début d'identifiant ou e-mail")
    p.set_defaults(handler=cmd_member_show)
    p = member.add_parser("deactivate", help="désactiver un membre")
    p.add_argument("member")
    p.set_defaults(handler=cmd_member_deactivate)
    p = member.add_parser("import", help="importer des membres depuis un CSV")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_member_import)
    p = member.add_parser("topup", help="ajouter des demi-journées au carnet d'un membre")
    p.add_argument("member")
    p.add_argument("half_days", type=int)
    add_payment_options(p)
    p.set_defaults(handler=cmd_member_topup)

    badge = sub.add_parser("badge", help="badges").add_subparsers(metavar="ACTION")
    p = badge.add_parser("add", help="attribuer un badge à un membre")
    p.add_argument("member")
    p.add_argument("uid")
    p.set_defaults(handler=cmd_badge_add)
    p = badge.add_parser("revoke", help="désactiver un badge")
    p.add_argument("uid")
    p.set_defaults(handler=cmd_badge_revoke)

    add_lifecycle_commands(member, badge)

    plan = sub.add_parser("plan", help="formules").add_subparsers(metavar="ACTION")
    p = plan.add_parser("add", help="créer une formule")
    p.add_argument("name")
    p.add_argument("--kind", required=True, choices=("unlimited", "carnet", "pass_halfday", "pass_day"))
    p.add_argument("--half-days", type=int)
    p.add_argument("--overdraft", action="store_true", help="autoriser un carnet à passer sous zéro")
    p.add_argument("--hours", help="heures d'entrée HH:MM-HH:MM")
    p.add_argument("--weekdays", help="jours d'entrée, 1 = lundi … 7 = dimanche : 1-5 ou 12345 (défaut : tous)")
    p.add_argument("--price", type=float, default=0.0, help="prix en euros")
    p.add_argument("--guest-half-days", type=int, help="demi-journées d'invités comprises par mois (défaut : aucune)")
    p.add_argument("--room-half-days", type=int, help="demi-journées de salle comprises par mois (défaut : aucune)")
    p.set_defaults(handler=cmd_plan_add)
    p = plan.add_parser("guests", help="changer les demi-journées d'invités comprises par mois d'une formule")
    p.add_argument("name")
    p.add_argument("half_days", type=int, help="0 : les invités sont décomptés du carnet du membre")
    p.set_defaults(handler=cmd_plan_guests)
    p = plan.add_parser("list", help="lister les formules")
    p.set_defaults(handler=cmd_plan_list)
    p = plan.add_parser("rooms", help="changer les demi-journées de salle comprises par mois d'une formule")
    p.add_argument("name")
    p.add_argument("half_days", type=int, help="0 : les salles se paient à part")
    p.set_defaults(handler=cmd_plan_rooms)

    _closure_parsers(sub)
    _room_parsers(sub)
    add_privacy_commands(sub)
    add_books_parsers(sub)

    usage = sub.add_parser("usage", help="usage").add_subparsers(metavar="ACTION")
    p = usage.add_parser("export", help="exporter l'usage d'un mois en CSV")
    p.add_argument("--month", required=True, help="AAAA-MM")
    p.add_argument("--out-dir", type=Path, default=Path("."))
    p.set_defaults(handler=cmd_usage_export)

    for name in RUNNERS:
        sub.add_parser(name, help=f"lancer {name}", add_help=False)
    return parser


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


@contextmanager
def _session(args: argparse.Namespace, *, write: bool) -> Iterator[tuple[Session, Config]]:
    """The site's database for one command: a write transaction, or reads."""
    config = _config(args)
    database = Database(config.database_url)
    try:
        with database.write() if write else database.read() as session:
            yield session, config
    finally:
        database.dispose()


def _change(args: argparse.Namespace, change: Callable[[Session, Config], str]) -> int:
    """A manager's change to a standalone site's members, badges or plans: checked, done in one transaction, then
    said in one line."""
    if _config(args).networked:
        raise CliError("ce site est relié au hub : les membres, badges et formules se gèrent sur le hub")
    with _session(args, write=True) as (session, config):
        said = change(session, config)
    print(said)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.config)
    if path.exists() and not args.force:
        raise CliError(f"{path} existe déjà (--force pour le remplacer)")
    Table({"id": args.site_id, "name": args.name}, "site").text("id", pattern=r"[a-z0-9][a-z0-9-]{0,62}")
    database = Path(args.database) if args.database else path.with_suffix(".db")
    text = render(args.site_id, args.name, str(database.absolute()), args.pin_factory, args.reader)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    config = load_config(path)  # what init writes must itself pass validation
    revision = migrate(config.database_url)
    print(f"Configuration écrite dans {path}")
    print(f"Base créée : {database} (schéma {revision})")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        done = backup(_config(args))
    except BackupError as exc:
        raise CliError(str(exc)) from None
    print(f"Sauvegarde vérifiée : {done.file} ({done.events} événements)")
    if done.usb_copy is not None:
        print(f"Copiée sur la clé USB : {done.usb_copy}")
    if done.pruned:
        print(f"{len(done.pruned)} sauvegarde(s) de plus de {_config(args).backup.keep_days} jours effacée(s).")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        done = restore(_config(args), args.file, force=args.force)
    except RestoreError as exc:
        raise CliError(f"{exc} ; rien n'a été changé") from None
    print(f"Base restaurée depuis {done.source} : {done.events} événements", end="")
    print(f", le dernier du {done.last_event.astimezone().strftime('%d/%m/%Y à %H:%M')}." if done.last_event else ".")
    if done.kept_aside is not None:
        print(f"L'ancienne base est gardée sous {done.kept_aside}.")
    print("La porte reprend d'elle-même dans quelques secondes et y réinscrit les passages de son journal de secours.")
    print("Redémarrez la borne et la synchronisation : sudo systemctl restart halfday-kiosk halfday-sync")
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    report = Report()
    try:
        upgrade(_config(args), args.package, args.venv, timeout=args.timeout, report=report)
    except UpgradeError as exc:
        for line in report.steps:
            print(line)
        raise CliError(str(exc)) from None
    for line in report.steps:
        print(line)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    if not _config(args).networked:
        raise CliError("ce site n'est pas relié au hub : il n'y a rien à reprendre")
    with _session(args, write=True) as (session, _unused):
        incarnation.begin(session, incarnation.REINSTALLED)
    print("Avant d'envoyer quoi que ce soit, la synchronisation demandera au hub où en est cette porte, et recopiera")
    print("ici ses passages connus du hub. Redémarrez-la : sudo systemctl restart halfday-sync")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    config = _config(args)
    revision = migrate(config.database_url)
    print(f"Base à jour (schéma {revision})")
    return 0


def cmd_member_add(args: argparse.Namespace) -> int:
    spec = admin.MemberSpec(
        args.first_name, args.last_name, args.email, args.plan, args.badge, args.valid_from, args.valid_until
    )

    def add(session: Session, config: Config) -> str:
        member = admin.add_member(session, spec, config.site.device, config.badges)
        return f"Membre ajouté : {member.full_name} ({member.id})"

    return _change(args, add)


def cmd_member_list(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, _config):
        members = session.scalars(select(Member).order_by(Member.last_name, Member.first_name)).all()
        badges: dict[str, int] = {}
        for member_id in session.scalars(select(Credential.member_id).where(Credential.status == "active")):
            if member_id:
                badges[member_id] = badges.get(member_id, 0) + 1
        print(f"{'id':10}  {'nom':30}  {'e-mail':30}  badges  état")
        for m in members:
            state = "actif" if m.active else "désactivé"
            print(f"{m.id[:10]}  {m.full_name[:30]:30}  {(m.email or '')[:30]:30}  {badges.get(m.id, 0):6}  {state}")
        print(f"{len(members)} membre(s)")
    return 0


def cmd_member_show(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, config):
        m = admin.find_member(session, args.member)
        print(f"{m.full_name}  ({m.id})")
        print(f"  e-mail : {m.email or '-'}   état : {'actif' if m.active else 'désactivé'}")
        said = "oui" if m.monthly_statement else "non"
        print(f"  équipe : {'oui' if m.staff else 'non'}   langue : {m.language}   relevé mensuel : {said}")
        for c in session.scalars(select(Credential).where(Credential.member_id == m.id)):
            print(f"  badge {c.value} : {'actif' if c.status == 'active' else 'désactivé'}")
        spent = spent_since_balances(session, config.site.device)
        for sub, plan, balance in session.execute(
            select(Subscription, Plan, Balance)
            .join(Plan, Subscription.plan_id == Plan.id)
            .outerjoin(Balance, Balance.subscription_id == Subscription.id)
            .where(Subscription.member_id == m.id)
        ):
            period = f"{sub.valid_from or '…'} → {sub.valid_until or '…'}"
            left = ""
            if balance is not None:
                left = f", reste {balance.amount - spent.get(sub.id, 0)} demi-journée(s)"
            days = f", {weekdays_label(plan.weekdays)}" if plan.weekdays else ""
            until = effective_until(sub.valid_from, sub.valid_until, session)
            extended = f" (prolongée jusqu'au {until} par les fermetures)" if until != sub.valid_until else ""
            print(f"  formule {plan.name} ({plan.kind}) {period}{extended}{days}{left}")
        uses = session.scalars(
            select(Use).where(Use.holder_id == m.id).order_by(Use.local_date.desc(), Use.slot).limit(10)
        ).all()
        for u in uses:
            print(f"  venue {u.local_date} {u.slot}{' (décomptée)' if u.spent else ''}")
    return 0


def cmd_member_deactivate(args: argparse.Namespace) -> int:
    return _change(args, lambda s, _c: f"{admin.deactivate_member(s, args.member).full_name} est désactivé·e")


def cmd_member_import(args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{args.file} ne peut pas être lu : {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{args.file} n'est pas un fichier texte UTF-8 (enregistrez-le en CSV UTF-8)") from None
    return _change(
        args, lambda s, c: f"{importer.import_members(s, text, c.site.device, c.badges)} membre(s) importé(s)"
    )


def cmd_member_topup(args: argparse.Namespace) -> int:
    def top_up(session: Session, config: Config) -> str:
        balance = admin.top_up(session, args.member, args.half_days, config.site.device)
        sub = session.get_one(Subscription, balance.subscription_id)
        sold = sell(session, config, args, BookKind.REFILL, sub, args.half_days) if args.half_days > 0 else ""
        return f"Carnet mis à jour : {balance.amount} demi-journée(s){sold}"

    return _change(args, top_up)


def cmd_badge_add(args: argparse.Namespace) -> int:
    def give(session: Session, config: Config) -> str:
        member = admin.find_member(session, args.member)
        credential = admin.add_badge(session, member, args.uid, config.badges)
        return f"Badge {credential.value} attribué à {member.full_name}"

    return _change(args, give)


def cmd_badge_revoke(args: argparse.Namespace) -> int:
    return _change(args, lambda s, _c: f"Badge {admin.revoke_badge(s, args.uid).value} désactivé")


# ---------------------------------------------------------------------------------------------------- a member's year
# Editing, plans through the year (subscribe, renew, change) and badges lost and found: access/admin.py's
# operations, the same as the admin pages'.


def add_lifecycle_commands(
    member: argparse._SubParsersAction[argparse.ArgumentParser],
    badge: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    p = member.add_parser("edit", help="modifier un membre (seuls les champs donnés changent)")
    p.add_argument("member", help="identifiant, début d'identifiant ou e-mail")
    p.add_argument("--first-name", help="prénom")
    p.add_argument("--last-name", help="nom")
    p.add_argument("--email", help="e-mail ('' pour l'effacer)")
    p.add_argument("--staff", action=argparse.BooleanOptionalAction, help="équipe : entre les jours de fermeture")
    p.add_argument("--language", choices=admin.LANGUAGES, help="langue de ses e-mails")
    p.add_argument("--statement", action=argparse.BooleanOptionalAction, help="relevé mensuel par e-mail")
    p.set_defaults(handler=cmd_member_edit)
    p = member.add_parser("reactivate", help="réactiver un membre désactivé")
    p.add_argument("member")
    p.set_defaults(handler=cmd_member_reactivate)
    p = member.add_parser("subscribe", help="donner une formule à un membre")
    p.add_argument("member")
    p.add_argument("plan", help="nom de la formule")
    p.add_argument("--from", dest="valid_from", help="début AAAA-MM-JJ")
    p.add_argument("--until", dest="valid_until", help="fin AAAA-MM-JJ")
    add_payment_options(p)
    p.set_defaults(handler=cmd_member_subscribe)
    p = member.add_parser("renew", help="renouveler la formule d'un membre pour la même durée")
    p.add_argument("member")
    p.add_argument("--plan", help="laquelle, si le membre en a plusieurs en cours")
    add_payment_options(p)
    p.set_defaults(handler=cmd_member_renew)
    p = member.add_parser("due", help="les formules à renouveler ce mois-ci (ou --month)")
    p.add_argument("--month", help="AAAA-MM (défaut : ce mois-ci)")
    p.set_defaults(handler=cmd_member_due)
    p = member.add_parser("change-plan", help="passer un membre à une autre formule à partir d'aujourd'hui")
    p.add_argument("member")
    p.add_argument("plan", help="nom de la nouvelle formule")
    p.add_argument("--from-plan", help="la formule quittée, si le membre en a plusieurs en cours")
    p.add_argument("--until", dest="valid_until", help="fin de la nouvelle formule AAAA-MM-JJ")
    p.set_defaults(handler=cmd_member_change_plan)

    p = badge.add_parser("reissue", help="remplacer un badge perdu : l'ancien désactivé, le nouveau attribué")
    p.add_argument("old_uid", help="UID du badge perdu")
    p.add_argument("new_uid", help="UID du nouveau badge")
    p.add_argument("--reason", default="perdu", help="raison gardée dans l'historique (défaut : perdu)")
    p.set_defaults(handler=cmd_badge_reissue)
    p = badge.add_parser("giveback", help="rendre un badge retrouvé à son membre")
    p.add_argument("uid")
    p.set_defaults(handler=cmd_badge_giveback)
    p = badge.add_parser("history", help="l'historique des badges d'un membre, ou d'un badge (--uid)")
    p.add_argument("member", nargs="?")
    p.add_argument("--uid", help="UID d'un badge")
    p.set_defaults(handler=cmd_badge_history)


def _today(config: Config) -> dt.date:
    """The site's local date: plans run by the site's days."""
    return dt.datetime.now(config.site.tz).date()


def _period(sub: Subscription) -> str:
    return f"{sub.valid_from or '…'} → {sub.valid_until or '…'}"


def _keep(given: T | None, current: T) -> T:
    """An option left out keeps the current value."""
    return current if given is None else given


def cmd_member_edit(args: argparse.Namespace) -> int:
    def edit(session: Session, _config: Config) -> str:
        m = admin.find_member(session, args.member)
        done = admin.edit_member(
            session,
            m.id,
            admin.MemberEdit(
                first_name=_keep(args.first_name, m.first_name),
                last_name=_keep(args.last_name, m.last_name),
                email=_keep(args.email, m.email) or None,
                staff=_keep(args.staff, m.staff),
                language=_keep(args.language, m.language),
                monthly_statement=_keep(args.statement, m.monthly_statement),
            ),
        )
        return f"Membre modifié : {done.full_name}"

    return _change(args, edit)


def cmd_member_reactivate(args: argparse.Namespace) -> int:
    return _change(args, lambda s, _c: f"{admin.reactivate_member(s, args.member).full_name} est réactivé·e")


def cmd_member_subscribe(args: argparse.Namespace) -> int:
    def give(session: Session, config: Config) -> str:
        sub = admin.subscribe_member(
            session, args.member, args.plan, args.valid_from, args.valid_until, config.site.device
        )
        sold = sell(session, config, args, BookKind.SUBSCRIPTION, sub)
        return f"Formule {sub.plan.name} donnée à {sub.member.full_name} : {_period(sub)}{sold}"

    return _change(args, give)


def cmd_member_renew(args: argparse.Namespace) -> int:
    def renew(session: Session, config: Config) -> str:
        current = admin.open_subscription(session, args.member, args.plan)
        sub = admin.renew(session, current.id, config.site.device, _today(config))
        sold = sell(session, config, args, BookKind.RENEWAL, sub)
        return f"Formule {sub.plan.name} de {sub.member.full_name} renouvelée : {_period(sub)}{sold}"

    return _change(args, renew)


def cmd_member_due(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, config):
        today = _today(config)
        month = admin.parse_month(args.month) if args.month else today.replace(day=1)
        due = admin.due_for_renewal(session, month, config.site.device, today, admin.nearly_empty(config))
        for d in due:
            ends = f"fin le {d.valid_until:%d/%m/%Y}" if d.valid_until else ""
            left = f"reste {d.left} demi-journée(s)" if d.left is not None else ""
            said = ", ".join(x for x in (ends, left) if x)
            print(f"{d.member_id[:10]}  {d.member_name[:30]:30}  {d.plan_name[:24]:24}  {said}")
        print(f"{len(due)} formule(s) à renouveler en {month:%m/%Y}")
    return 0


def cmd_member_change_plan(args: argparse.Namespace) -> int:
    def change(session: Session, config: Config) -> str:
        current = admin.open_subscription(session, args.member, args.from_plan)
        sub = admin.change_plan(session, current.id, args.plan, config.site.device, _today(config), args.valid_until)
        return f"{sub.member.full_name} passe de {current.plan.name} à {sub.plan.name} : {_period(sub)}"

    return _change(args, change)


def cmd_badge_reissue(args: argparse.Namespace) -> int:
    def reissue(session: Session, config: Config) -> str:
        new = admin.reissue_badge(session, args.old_uid, args.new_uid, args.reason, config.badges)
        holder = new.member.full_name if new.member else ""
        return f"Badge {admin.normalise_uid(args.old_uid)} désactivé ; badge {new.value} attribué à {holder}"

    return _change(args, reissue)


def cmd_badge_giveback(args: argparse.Namespace) -> int:
    def give_back(session: Session, _config: Config) -> str:
        badge = admin.give_back_badge(session, args.uid)
        return f"Badge {badge.value} rendu à {badge.member.full_name if badge.member else ''}"

    return _change(args, give_back)


BADGE_ACTIONS = {"given": "attribué", "revoked": "désactivé", "given_back": "rendu"}


def cmd_badge_history(args: argparse.Namespace) -> int:
    if not args.member and not args.uid:
        raise CliError("indiquez un membre ou --uid UID")
    with _session(args, write=False) as (session, config):
        member_id = admin.find_member(session, args.member).id if args.member else None
        rows = admin.badge_history(session, member_id=member_id, uid=args.uid)
        names = {m.id: m.full_name for m in session.scalars(select(Member))}
        for h in rows:
            who = f"{names.get(h.member_id, '?')} ({h.member_id[:10]})" if h.member_id else "-"
            reason = f" : {h.reason}" if h.reason else ""
            action = BADGE_ACTIONS.get(h.action, h.action)
            print(f"{h.at.astimezone(config.site.tz):%d/%m/%Y %H:%M}  {h.value}  {action}  {who}{reason}")
        print(f"{len(rows)} changement(s)")
    return 0


def cmd_plan_add(args: argparse.Namespace) -> int:
    if args.price < 0 or args.price > 100_000:
        raise CliError("--price : prix en euros entre 0 et 100000")
    spec = admin.PlanSpec(
        args.name,
        args.kind,
        args.half_days,
        args.overdraft,
        args.hours,
        round(args.price * 100),
        args.weekdays,
        args.guest_half_days,
        args.room_half_days,
    )
    return _change(args, lambda s, _c: f"Formule créée : {admin.add_plan(s, spec).name}")


def cmd_plan_guests(args: argparse.Namespace) -> int:
    def change(session: Session, _config: Config) -> str:
        plan = admin.set_guest_half_days(session, args.name, args.half_days)
        return f"Formule {plan.name} : {plan.guest_half_days or 0} demi-journée(s) d'invités par mois"

    return _change(args, change)


def cmd_plan_rooms(args: argparse.Namespace) -> int:
    def change(session: Session, _config: Config) -> str:
        plan = admin.set_room_half_days(session, args.name, args.half_days)
        return f"Formule {plan.name} : {plan.room_half_days or 0} demi-journée(s) de salle par mois"

    return _change(args, change)


def cmd_plan_list(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, _config):
        plans = session.scalars(select(Plan).order_by(Plan.name)).all()
        for p in plans:
            hours = f"{p.hours_start:%H:%M}-{p.hours_end:%H:%M}" if p.hours_start and p.hours_end else "créneaux"
            size = f"{p.half_days} demi-journées" if p.half_days else ""
            overdraft = "découvert autorisé" if p.allow_overdraft else ""
            days = weekdays_label(p.weekdays) if p.weekdays else ""
            price = f"{p.price_cents / 100:.2f} €"
            guests = f"{p.guest_half_days} demi-journées d'invités par mois" if p.guest_half_days else ""
            rooms = f"{p.room_half_days} demi-journées de salle par mois" if p.room_half_days else ""
            details = ", ".join(x for x in (p.kind, size, hours, days, price, overdraft, guests, rooms) if x)
            print(f"{p.name} : {details}")
        print(f"{len(plans)} formule(s)")
    return 0


# The holiday calendar and the staff who still open on its days (access/closure_days.py).


def _closure_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    closure = sub.add_parser("closure", help="jours de fermeture du lieu").add_subparsers(metavar="ACTION")
    p = closure.add_parser("add", help="fermer le lieu un jour, ou du premier au dernier jour (--until)")
    p.add_argument("date", help="AAAA-MM-JJ")
    p.add_argument("--until", help="dernier jour fermé AAAA-MM-JJ (défaut : le seul jour donné)")
    p.add_argument("--label", default="", help="motif affiché, par exemple « Noël »")
    p.set_defaults(handler=cmd_closure_add)
    p = closure.add_parser("remove", help="rouvrir un jour fermé, ou du premier au dernier jour (--until)")
    p.add_argument("date", help="AAAA-MM-JJ")
    p.add_argument("--until", help="dernier jour AAAA-MM-JJ")
    p.set_defaults(handler=cmd_closure_remove)
    p = closure.add_parser("list", help="lister les jours de fermeture à venir")
    p.add_argument("--all", action="store_true", help="les jours passés aussi")
    p.set_defaults(handler=cmd_closure_list)

    staff = sub.add_parser("staff", help="l'équipe, qui entre les jours de fermeture").add_subparsers(metavar="ACTION")
    p = staff.add_parser("add", help="compter un membre dans l'équipe")
    p.add_argument("member", help="identifiant, début d'identifiant ou e-mail")
    p.set_defaults(handler=cmd_staff_add)
    p = staff.add_parser("remove", help="retirer un membre de l'équipe")
    p.add_argument("member")
    p.set_defaults(handler=cmd_staff_remove)
    p = staff.add_parser("list", help="lister l'équipe")
    p.set_defaults(handler=cmd_staff_list)


def _site_today(config: Config) -> dt.date:
    return dt.datetime.now(config.site.tz).date()


def _days(count: int) -> str:
    return f"{count} jour{'s' if count > 1 else ''}"


def cmd_closure_add(args: argparse.Namespace) -> int:
    # The calendar is the site's own, networked or not: the hub does not keep it.
    with _session(args, write=True) as (session, config):
        span = closure_days.parse_span(args.date, args.until, _site_today(config))
        added = closure_days.add_closures(session, span, args.label)
    print(f"Fermeture enregistrée : {_days(len(added))}, du {added[0]:%d/%m/%Y} au {added[-1]:%d/%m/%Y}")
    return 0


def cmd_closure_remove(args: argparse.Namespace) -> int:
    with _session(args, write=True) as (session, config):
        span = closure_days.parse_span(args.date, args.until, _site_today(config))
        removed = closure_days.remove_closures(session, span)
    print(f"Fermeture retirée : {_days(removed)} de nouveau ouvert(s)")
    return 0


def cmd_closure_list(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, config):
        today = _site_today(config)
        shown = [c for c in closure_days.closures(session) if args.all or c.date >= today]
    names = dict(day_names())
    for c in shown:
        print(f"{c.date:%Y-%m-%d}  {names[str(c.date.isoweekday())]}  {c.label}".rstrip())
    print(f"{_days(len(shown))} de fermeture{'' if args.all else ' à venir'}")
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    return _change(
        args, lambda s, _c: f"{closure_days.set_staff(s, args.member, True).full_name} fait partie de l'équipe"
    )


def cmd_staff_remove(args: argparse.Namespace) -> int:
    return _change(
        args, lambda s, _c: f"{closure_days.set_staff(s, args.member, False).full_name} ne fait plus partie de l'équipe"
    )


def cmd_staff_list(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, _config):
        for m in closure_days.staff_members(session):
            print(f"{m.id[:10]}  {m.full_name}{'' if m.active else ' (désactivé·e)'}")
    return 0


def cmd_usage_export(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, _config):
        rows = reports.month_usage(session, args.month)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    uses_path = args.out_dir / f"usage-{args.month}.csv"
    summary_path = args.out_dir / f"usage-{args.month}-summary.csv"
    uses_path.write_text(reports.usage_csv(rows), encoding="utf-8")
    summary_path.write_text(reports.summary_csv(rows), encoding="utf-8")
    print(f"{len(rows)} demi-journée(s) : {uses_path}, {summary_path}")
    return 0


# ------------------------------------------------------------------------------------------- rooms and offices
# The site's resources (access/resources.py, the same as the admin's pages). They are the site's own, networked or
# not: its appliance is the one writer of their bookings.

ROOM_KINDS = {"meeting_room": "salle de réunion", "office": "bureau", "phone_box": "cabine téléphonique"}


def _room_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    room = sub.add_parser("room", help="salles et bureaux réservables à la demi-journée").add_subparsers(
        metavar="ACTION"
    )
    p = room.add_parser("add", help="ajouter une salle ou un bureau")
    p.add_argument("name")
    p.add_argument("--kind", required=True, choices=tuple(ROOM_KINDS))
    _room_options(p, capacity=1, price=0.0)
    p.set_defaults(handler=cmd_room_add)
    p = room.add_parser("edit", help="modifier une salle (seuls les champs donnés changent)")
    p.add_argument("room", help="identifiant ou nom")
    p.add_argument("--name")
    p.add_argument("--kind", choices=tuple(ROOM_KINDS))
    _room_options(p, capacity=None, price=None)
    p.add_argument("--no-door", action="store_true", help="la salle n'a plus sa propre porte")
    p.set_defaults(handler=cmd_room_edit)
    p = room.add_parser("list", help="lister les salles et bureaux, avec l'adresse secrète de leur calendrier")
    p.set_defaults(handler=cmd_room_list)
    p = room.add_parser("deactivate", help="désactiver une salle : plus de nouvelle réservation")
    p.add_argument("room")
    p.set_defaults(handler=cmd_room_deactivate)
    p = room.add_parser("reactivate", help="rendre une salle de nouveau réservable")
    p.add_argument("room")
    p.set_defaults(handler=cmd_room_reactivate)
    p = room.add_parser("new-secret", help="nouvelle adresse du calendrier d'une salle : l'ancienne ne marche plus")
    p.add_argument("room")
    p.set_defaults(handler=cmd_room_new_secret)


def _room_options(p: argparse.ArgumentParser, *, capacity: int | None, price: float | None) -> None:
    p.add_argument("--capacity", type=int, default=capacity, help="nombre de places")
    p.add_argument("--price-halfday", type=float, default=price, help="prix de la demi-journée en euros")
    p.add_argument("--price-day", type=float, default=price, help="prix de la journée en euros")
    p.add_argument("--door", help="identifiant de l'appareil de sa propre porte")


def _cents(euros: float) -> int:
    if not 0 <= euros <= 10_000:
        raise CliError("un prix va de 0 à 10000 euros")
    return round(euros * 100)


def _room_line(r: Resource) -> str:
    door = f", porte {r.door_device}" if r.door_device else ""
    state = "" if r.active else " (désactivée)"
    return (
        f"{r.name} : {ROOM_KINDS.get(r.kind, r.kind)}, {r.capacity} place(s), demi-journée "
        f"{r.price_halfday_cents / 100:.2f} €, journée {r.price_day_cents / 100:.2f} €{door}{state}"
    )


def cmd_room_add(args: argparse.Namespace) -> int:
    spec = resources.ResourceSpec(
        args.name, args.kind, args.capacity, _cents(args.price_halfday), _cents(args.price_day), args.door
    )
    with _session(args, write=True) as (session, _config):
        print(f"Salle créée : {_room_line(resources.add_resource(session, spec))}")
    return 0


def cmd_room_edit(args: argparse.Namespace) -> int:
    with _session(args, write=True) as (session, _config):
        r = resources.find_resource(session, args.room)
        spec = resources.ResourceSpec(
            _keep(args.name, r.name),
            _keep(args.kind, r.kind),
            _keep(args.capacity, r.capacity),
            r.price_halfday_cents if args.price_halfday is None else _cents(args.price_halfday),
            r.price_day_cents if args.price_day is None else _cents(args.price_day),
            None if args.no_door else _keep(args.door, r.door_device),
        )
        print(f"Salle enregistrée : {_room_line(resources.edit_resource(session, r.id, spec))}")
    return 0


def cmd_room_list(args: argparse.Namespace) -> int:
    with _session(args, write=False) as (session, _config):
        rows = session.scalars(select(Resource).order_by(Resource.name)).all()
        for r in rows:
            print(f"{r.id[:10]}  {_room_line(r)}")
            print(f"    calendrier : /rooms/{r.id}/{r.feed_secret}.ics")
        print(f"{len(rows)} salle(s) et bureau(x)")
    return 0


def cmd_room_deactivate(args: argparse.Namespace) -> int:
    with _session(args, write=True) as (session, _config):
        name = resources.set_active(session, args.room, False).name
    print(f"{name} désactivée : plus de nouvelle réservation, celles faites restent")
    return 0


def cmd_room_reactivate(args: argparse.Namespace) -> int:
    with _session(args, write=True) as (session, _config):
        name = resources.set_active(session, args.room, True).name
    print(f"{name} de nouveau réservable")
    return 0


def cmd_room_new_secret(args: argparse.Namespace) -> int:
    with _session(args, write=True) as (session, _config):
        r = resources.renew_feed_secret(session, args.room)
        print(f"Nouvelle adresse du calendrier de {r.name} : /rooms/{r.id}/{r.feed_secret}.ics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
