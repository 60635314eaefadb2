"""Login sessions as signed cookies, and their CSRF tokens.

A session is not a row in the catalog but a value signed with HMAC-SHA256 under a key derived from
the catalog's secret key: ``<user id>.<expiry>.<nonce>.<password fingerprint>.<signature>``. The
server keeps no session state, so several server processes share sessions without a table. A session
ends when it expires, when the user is deactivated, or when their password changes (the fingerprint of
the password hash no longer matches). Logging out clears the cookie in the browser.

The CSRF token is an HMAC of the session's nonce: a page or script authenticated by the cookie must
echo it in the ``X-CSRF-Token`` header of every request that changes something. The login response
gives it, and the ``resguardo_csrf`` cookie (readable by the console's scripts) holds it too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from resguardo.catalog import SecretKey

SESSION_COOKIE = "resguardo_session"
CSRF_COOKIE = "resguardo_csrf"
CSRF_HEADER = "X-CSRF-Token"
_PARTS = 5


@dataclass(frozen=True)
class SessionClaims:
    """What a valid session cookie says: whose it is, until when, and its nonce."""

    user_id: int
    expires_at: datetime
    nonce: str
    password_fingerprint: str


def _signing_key(key: SecretKey) -> bytes:
    return hmac.new(key.material, b"resguardo api session signing key", hashlib.sha256).digest()


def _sign(key: SecretKey, payload: str) -> str:
    digest = hmac.new(_signing_key(key), payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def password_fingerprint(password_hash: str | None) -> str:
    """Return a short fingerprint of a password hash (changes when the password does)."""
    return hashlib.sha256((password_hash or "").encode("utf-8")).hexdigest()[:16]


def issue_session(key: SecretKey, user_id: int, expires_at: datetime, password_hash: str | None) -> str:
    """Return a signed session value for ``user_id`` valid until ``expires_at``."""
    nonce = secrets.token_urlsafe(16)
    payload = f"{user_id}.{int(expires_at.timestamp())}.{nonce}.{password_fingerprint(password_hash)}"
    return f"{payload}.{_sign(key, payload)}"


def read_session(key: SecretKey, value: str, now: datetime) -> SessionClaims | None:
    """Return the claims of a session value, or None when it is malformed, forged or expired."""
    parts = value.split(".")
    if len(parts) != _PARTS:
        return None
    payload, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_sign(key, payload), signature):
        return None
    try:
        user_id = int(parts[0])
        expires_at = datetime.fromtimestamp(int(parts[1]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if expires_at <= now:
        return None
    return SessionClaims(user_id, expires_at, parts[2], parts[3])


def csrf_token(key: SecretKey, session_value: str) -> str:
    """Return the CSRF token that goes with a session value."""
    nonce = session_value.split(".")[2] if session_value.count(".") >= 2 else session_value
    return _sign(key, f"csrf.{nonce}")
