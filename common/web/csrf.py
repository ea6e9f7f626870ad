"""CSRF tokens: one per browser session, carried by every form (hidden field) or fetch (header)."""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use; every form carries it in a hidden field."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_valid() -> bool:
    """Whether this request carries the session's CSRF token (form field or header). Fails closed: no session
    token, no sent token, or any difference is a refusal."""
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    return isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected, sent)
