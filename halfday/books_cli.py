"""The books from the command line: how a plan given, renewed or refilled was paid (`--paid`, `--amount`), and the
journal of a month or a range of dates as Paheko's CSV (`halfday books journal`), as the admin's pages do."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from access import books
from access.admin import AdminError
from access.config import Config, load_config
from access.db import Database
from access.models import Subscription
from access.store import Stamp, boot_id
from common.books import paheko_csv
from common.tables import parse_month
from common.words import BookKind, Tender

LATER, NONE = "later", "none"
PAID_CHOICES = (*tuple(Tender), LATER, NONE)
PAID_WORDS = {"cash": "espèces", "card": "carte", "cheque": "chèque", "transfer": "virement"}


def add_payment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--paid",
        choices=PAID_CHOICES,
        default=LATER,
        help="comment c'est payé (défaut : later, à régler depuis la liste des ventes ; none : sans vente)",
    )
    p.add_argument("--amount", help="montant en euros (défaut : le prix de la formule)")


def sell(
    session: Session,
    config: Config,
    args: argparse.Namespace,
    kind: BookKind,
    sub: Subscription,
    half_days: int | None = None,
) -> str:
    """Record the sale the arguments describe; what to add to the command's line ("" when there is no sale)."""
    if args.paid == NONE:
        return ""
    amount = None
    if args.amount:
        try:
            amount = round(float(args.amount.replace(",", ".")) * 100)
        except ValueError:
            raise AdminError(f"--amount « {args.amount} » : un montant en euros, par exemple 90 ou 90,50") from None
        if not 0 <= amount <= 10_000_000:
            raise AdminError("--amount : de 0 à 100 000 euros")
    tender = None if args.paid == LATER else args.paid
    stamp = Stamp.now(boot_id())
    sale = books.plan_sale(session, config.books, stamp, config.site.device, kind, sub, tender, amount, half_days)
    if sale is None:
        return ""
    how = PAID_WORDS.get(tender, "") if tender else "à régler"
    return f"\nReçu {sale.receipt_no} : {sale.amount_cents / 100:.2f} € ({how})".replace(".", ",")


def add_books_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("books", help="les comptes : journal comptable").add_subparsers(metavar="ACTION")
    p = group.add_parser("journal", help="le journal d'un mois ou d'une période, au format d'import de Paheko")
    p.add_argument("--month", help="AAAA-MM")
    p.add_argument("--from", dest="first", help="premier jour AAAA-MM-JJ")
    p.add_argument("--to", dest="last", help="dernier jour AAAA-MM-JJ")
    p.add_argument("--out", type=Path, help="fichier à écrire (défaut : journal-DEBUT-FIN.csv ici)")
    p.set_defaults(handler=cmd_books_journal)


def period(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    try:
        if args.first or args.last:
            first, last = dt.date.fromisoformat(args.first or ""), dt.date.fromisoformat(args.last or "")
            if last < first:
                raise AdminError("--to précède --from")
            return first, last
        year, month = parse_month(args.month)
    except ValueError as exc:
        raise AdminError(f"période : {exc}") from None
    first = dt.date(year, month, 1)
    return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def cmd_books_journal(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    first, last = period(args)
    database = Database(config.database_url)
    try:
        with database.read() as session:
            entries = books.period_entries(session, config.books, config.site.tz, first, last)
    finally:
        database.dispose()
    out = args.out or Path(f"journal-{first.isoformat()}-{last.isoformat()}.csv")
    out.write_text(paheko_csv(entries), encoding="utf-8")
    print(f"{len(entries)} écriture(s) du {first:%d/%m/%Y} au {last:%d/%m/%Y} : {out}")
    return 0
