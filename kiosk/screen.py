"""The touchscreen at the entrance: the attract screen with live taps, a walk-in's purchase, re-entry by code."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.wrappers.response import Response as BaseResponse

from access.ledger import slot_at
from access.models import Pass, Sale
from access.policy import Reason
from access.store import PASS_CREDENTIAL_PREFIX
from common.i18n import _
from common.privacy_notice import privacy_page
from common.web.app import error_page, from_addresses
from common.words import PaymentMethod
from kiosk.account import account_link, admit_guest, guest_for_code
from kiosk.booking import admit_booking, booking_by_code, rooms_on_offer
from kiosk.context import Kiosk, current_kiosk
from kiosk.doorlink import request_id
from kiosk.live import Keepalive, StreamsFull, Subscription, follow, sse
from kiosk.payment import PaymentRefused
from kiosk.receipts import receipt_link
from kiosk.sales import (
    Counter,
    Offer,
    SaleRefused,
    check_walk_in,
    closures_from,
    pass_for_code,
    record_sale,
    span_of_pass,
)
from kiosk.words import closed_days_label, describe_tap, kind_label, refusal, refusal_at_door, span_label
from sync.localbus import Admit, Reply, Tap

bp = Blueprint("screen", __name__)
log = logging.getLogger("halfday.kiosk")

# What a guesser tries, each counted apart (common/web/throttle.py).
VOUCHER, CODE, CARD = "voucher", "code", "card"
# A browser reconnects this long after its event stream drops (a kiosk or network restart).
SSE_RETRY_MS = 1000


@bp.before_request
def touchscreen_only() -> Response | None:
    """The touchscreen's pages sell passes that open the door, show a walk-in's code and follow every tap: they
    answer the touchscreen only (this machine, or the addresses kiosk.touchscreen_from names). The site's network
    gets the admin and the wall display, over HTTPS."""
    if from_addresses(request.remote_addr, current_kiosk().config.kiosk.touchscreen_from):
        return None
    message = _("Cette page n'est disponible que sur l'écran de la borne. L'accueil est à l'adresse /admin/.")
    return error_page(message, 403)


@bp.get("/")
def attract() -> str:
    if request.args.get("idle"):
        # The next visitor starts afresh: the site's language, and a count of guesses of their own (the client's
        # cap per minute still holds).
        session.pop("lang", None)
        session.pop("guesser", None)
    return render_template("screen/attract.html", rooms=rooms_on_offer(current_kiosk()))


def guesser(purpose: str) -> tuple[str, str]:
    """Who guesses, for `purpose`: this browser session at this address; and the client that is (the address)."""
    token = session.get("guesser")
    if not isinstance(token, str):
        token = session["guesser"] = secrets.token_urlsafe(12)
    client = f"{purpose}:{request.remote_addr or '?'}"
    return f"{client}:{token}", client


@bp.get("/events")
def events() -> Response:
    """Server-sent events: each tap at the door, described in this browser's language."""
    kiosk = current_kiosk()
    gone = browser_gone()
    try:
        subscription = kiosk.live.subscribe(request.remote_addr or "")
    except StreamsFull:
        return streams_full()
    news_queue = subscription.news

    def stream() -> Iterator[str]:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        keepalive = Keepalive(kiosk.tuning.sse_keepalive_s)
        yield sse("hello", json.dumps({"bus": kiosk.link is not None and kiosk.link.connected}))
        for news in follow(kiosk.live, news_queue, kiosk.tuning.stream_poll_s, gone):
            if news is not None and news.kind == "tap" and isinstance(news.data, Tap):
                keepalive.sent()
                described = describe_tap(news.data)
                link = account_link(news.data)  # a member's tap opens their account for a short while
                if link is not None:
                    described["account"] = link
                yield sse("tap", json.dumps(described), news.data.event)
            elif keepalive.due():
                yield ": keepalive\n\n"

    return event_stream(stream(), subscription)


def browser_gone() -> Callable[[], bool]:
    """Whether this request's browser has closed the connection (waitress tells; elsewhere: never known)."""
    check = request.environ.get("waitress.client_disconnected")
    return check if callable(check) else lambda: False


def event_stream(body: Iterator[str], subscription: Subscription) -> Response:
    """A streaming response for an EventSource: never cached, never buffered; its stream is given back when the
    response ends, however it ends (the browser left before the first line included)."""
    response = Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(subscription.close)
    return response


# A browser refused a stream tries again this long after (its EventSource honours Retry-After's spirit through
# its own reconnection delay; the header tells other clients).
STREAMS_FULL_RETRY_S = 30


def streams_full() -> Response:
    """503: every stream this client may hold (or every stream there is) is taken; the pages still answer."""
    message = _("Trop d'écrans suivent cette borne en direct : réessayez dans un moment.")
    return Response(message, status=503, mimetype="text/plain", headers={"Retry-After": str(STREAMS_FULL_RETRY_S)})


# ---------------------------------------------------------------------------------------------- buying


@bp.get("/buy")
def choose() -> str:
    kiosk = current_kiosk()
    counter = kiosk.counter()
    return render_template(
        "screen/choose.html",
        counter=counter,
        closed=refusal(f"closed_{counter.closed}") if counter.closed else None,
        kind_label=kind_label,
        span_label=span_label,
        late_minutes=kiosk.config.kiosk.late_minutes,
    )


def _render_form(
    counter: Counter, offer: Offer | None, kind: str, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    kiosk = current_kiosk()
    return (
        render_template(
            "screen/buy.html",
            counter=counter,
            offer=offer,
            kind=kind,
            kind_label=kind_label,
            span_label=span_label,
            closed_days=closed_days_label(offer.span, counter.closures) if offer is not None else None,
            late_minutes=kiosk.config.kiosk.late_minutes,
            providers=[name for name in kiosk.providers if payable(name, kind)],
            form=request.form,
            error=error,
        ),
        status,
    )


def payable(provider: str, kind: str) -> bool:
    """Whether `provider` may take the payment of a pass of `kind` (week and month passes are paid ahead)."""
    return provider != PaymentMethod.COUNTER or kind in current_kiosk().config.kiosk.counter_passes


@bp.get("/buy/<kind>")
def buy_form(kind: str) -> tuple[str, int] | BaseResponse:
    counter = current_kiosk().counter()
    offer = counter.offer(kind)
    if offer is None:
        return redirect(url_for("screen.choose"))
    return _render_form(counter, offer, kind)


@bp.post("/buy/<kind>")
def buy(kind: str) -> tuple[str, int] | BaseResponse:
    """Record the sale (one write transaction), then ask the door to admit the new pass."""
    kiosk = current_kiosk()
    counter = kiosk.counter()
    offer = counter.offer(kind)
    if offer is None:
        reason = f"closed_{counter.closed}" if counter.closed else "offer_gone"
        return _render_form(counter, None, kind, refusal(reason), 409)
    form = request.form
    if form.get("offer", offer.signature) != offer.signature:
        # The buyer pays for the half-days the form showed them, never for others the clock moved to meanwhile
        # (a request without the form's offer buys what is on sale now, as the choice page says).
        return _render_form(counter, offer, kind, refusal("span_changed"), 409)
    provider = kiosk.providers.get(form.get("provider", ""))
    who, client = guesser(VOUCHER)
    try:
        walk_in = check_walk_in(form.get("name", ""), form.get("email", ""), linked_card(), kiosk.config.badges)
        if provider is None:
            raise SaleRefused("provider_missing")
        if provider.name == PaymentMethod.VOUCHER:
            wait = kiosk.guesses.wait_s(who, client)
            if wait > 0:
                raise SaleRefused("throttled", seconds=wait)
            kiosk.guesses.attempt(client)
        with kiosk.db.write() as s:
            payment = provider.take(s, offer, form)
            pass_id = record_sale(
                s, kiosk.config.site.device, offer, walk_in, payment, kiosk.stamp(), kiosk.config.books
            )[1].id
    except (SaleRefused, PaymentRefused) as exc:
        if isinstance(exc, PaymentRefused) and exc.guess:
            kiosk.guesses.failure(who)
        return _render_form(counter, offer, kind, refusal(exc.reason, exc.details), 422)
    except IntegrityError:
        # Two sales raced for the same voucher: the database's unique code let only one through.
        return _render_form(counter, offer, kind, refusal("voucher_used"), 422)
    except OperationalError:
        # The ledger refused the write (its disk full or failing): the transaction, voucher included, is undone.
        log.exception("vente non enregistrée")
        return _render_form(counter, offer, kind, refusal("not_recorded"), 503)
    if walk_in.uid is not None:
        kiosk.cards.forget(session.pop("card", ""))
    _remember_door(pass_id, admit(kiosk, pass_id))
    return redirect(url_for("screen.pass_page", pass_id=pass_id))


def admit(kiosk: Kiosk, pass_id: str) -> Reply | None:
    """Ask the door to let the pass's holder in now; None when the door did not answer."""
    if kiosk.link is None:
        return None
    command = Admit(request_id(), credential=PASS_CREDENTIAL_PREFIX + pass_id)
    return kiosk.link.request(command, kiosk.tuning.command_timeout_s)


def _remember_door(pass_id: str, reply: Reply | None) -> None:
    session["door"] = {"pass": pass_id, "answered": reply is not None, "ok": bool(reply and reply.ok)}


def door_words(reply: dict[str, Any] | None) -> tuple[str, bool]:
    if reply is None or not reply.get("answered"):
        return (
            _(
                "La porte ne répond pas pour l'instant. Votre pass est enregistré : "
                "réessayez avec votre code dans un instant, ou appelez l'accueil."
            ),
            False,
        )
    if reply.get("ok"):
        return _("La porte est ouverte : entrez !"), True
    if reply.get("reason") == Reason.CLOSED:
        return refusal_at_door(Reason.CLOSED), False
    return _("La porte a refusé ce pass. Adressez-vous à l'accueil avec votre code."), False


@bp.post("/buy/card")
def bind_card() -> Response:
    """Wait for a card tapped at the reader (the door's enrol mode): the walk-in may use it to come back in.

    The door decides on a member's badge as usual meanwhile and reports only a card it does not know. The card's
    UID stays here: the page gets a token that stands for it, which the sale's form sends back. Every press
    counts, each holding the door's enrol mode for a while: a few per visitor, and fewer per minute."""
    kiosk = current_kiosk()
    who, client = guesser(CARD)
    wait = kiosk.card_links.wait_s(who, client)
    if wait > 0:
        return jsonify(error=refusal("throttled", {"seconds": wait}))
    if kiosk.link is None:
        return jsonify(error=_("La porte ne répond pas : continuez sans carte."))
    kiosk.card_links.attempt(client)
    kiosk.card_links.failure(who)
    reply, uid = kiosk.link.enrol(kiosk.tuning.command_timeout_s, kiosk.tuning.card_timeout_s)
    if uid is None:
        if reply is None:
            return jsonify(error=_("La porte ne répond pas : continuez sans carte."))
        return jsonify(error=_("Aucune carte présentée. Vous pouvez continuer sans carte."))
    token = kiosk.cards.keep(uid)
    session["card"] = token
    return jsonify(card=token)


def linked_card() -> str | None:
    """The card this browser linked for its sale, if the form sends back the token it was given (else none)."""
    token = request.form.get("card_token", "")
    if not token or session.get("card") != token:
        return None
    return current_kiosk().cards.get(token)


@bp.get("/pass/<pass_id>")
def pass_page(pass_id: str) -> str:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        pass_ = s.get(Pass, pass_id)
        sale = s.get(Sale, pass_.sale_id) if pass_ is not None else None
        closures = closures_from(s, pass_.valid_date) if pass_ is not None else set()
    if pass_ is None or sale is None:
        abort(404)
    if kiosk.now() - pass_.created_at > dt.timedelta(seconds=kiosk.tuning.pass_page_s):
        abort(404)  # the code is not for the next visitor's eyes
    door = session.get("door")
    door_text, door_ok = door_words(door if isinstance(door, dict) and door.get("pass") == pass_id else None)
    return render_template(
        "screen/pass.html",
        pass_=pass_,
        sale=sale,
        code=f"{pass_.code[:3]} {pass_.code[3:]}",
        first_name=pass_.holder_name.split(" ")[0],
        valid=span_label(span_of_pass(pass_, sale.plan_kind), closures),
        kind=kind_label(sale.plan_kind),
        door_text=door_text,
        door_ok=door_ok,
        receipt_url=receipt_link(sale),
    )


# ---------------------------------------------------------------------------------------------- re-entry


@bp.get("/privacy")
def privacy() -> str:
    """What the site keeps about walk-ins and members, and whom to ask: nobody's data, so no login."""
    config = current_kiosk().config
    return render_template("screen/privacy.html", sections=privacy_page(config.privacy, config.association.name))


@bp.get("/code")
def code_form() -> str:
    return render_template("screen/code.html", error=None)


@bp.post("/code")
def code_entry() -> tuple[str, int]:
    """A walk-in comes back with the 6-digit code of a pass valid now: check it, then ask the door to admit."""
    kiosk = current_kiosk()
    who, client = guesser(CODE)
    wait = kiosk.guesses.wait_s(who, client)
    if wait > 0:
        return render_template("screen/code.html", error=refusal("throttled", {"seconds": wait})), 429
    now = slot_at(kiosk.now(), kiosk.rules)
    try:
        with kiosk.db.read() as s:
            pass_ = pass_for_code(s, request.form.get("code", ""), now)
    except SaleRefused as exc:
        if exc.reason == "code_unknown":
            with kiosk.db.read() as s:
                guest = guest_for_code(s, request.form.get("code", ""), now)
            if guest is not None:  # a member's guest of today
                kiosk.guesses.attempt(client)
                return guest_welcome(kiosk, guest.id, guest.name)
            with kiosk.db.read() as s:
                booking = booking_by_code(s, request.form.get("code", ""), now)
            if booking:  # a walk-in's booking of a room, for the half-day under way
                kiosk.guesses.attempt(client)
                return booking_welcome(kiosk, booking[0].group_id, booking[0].name)
            kiosk.guesses.attempt(client)
            kiosk.guesses.failure(who)
        return render_template("screen/code.html", error=refusal(exc.reason)), 422
    kiosk.guesses.attempt(client)
    reply = admit(kiosk, pass_.id)
    door_text, door_ok = door_words(
        {"answered": reply is not None, "ok": bool(reply and reply.ok), "reason": reply.reason if reply else None}
    )
    return render_template(
        "screen/welcome.html",
        first_name=pass_.holder_name.split(" ")[0],
        holder=pass_.id,
        door_text=door_text,
        door_ok=door_ok,
    ), 200


def booking_welcome(kiosk: Kiosk, group: str, name: str) -> tuple[str, int]:
    """A walk-in entered the code of their booking: ask the door to admit "booking:<group>", and say its answer."""
    reply = admit_booking(kiosk, group)
    door_text, door_ok = door_words({"answered": reply is not None, "ok": bool(reply and reply.ok)})
    return render_template(
        "screen/welcome.html", first_name=name.split(" ")[0], holder=group, door_text=door_text, door_ok=door_ok
    ), 200


def guest_welcome(kiosk: Kiosk, guest_id: str, name: str) -> tuple[str, int]:
    """A member's guest entered their code: ask the door, and say what it answered."""
    reply = admit_guest(kiosk, guest_id)
    door_text, door_ok = door_words({"answered": reply is not None, "ok": bool(reply and reply.ok)})
    return render_template(
        "screen/welcome.html", first_name=name.split(" ")[0], holder=guest_id, door_text=door_text, door_ok=door_ok
    ), 200
