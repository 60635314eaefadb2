"""Who is calling, and may they: API tokens, session cookies with CSRF, and the permission check.

* ``Authorization: Bearer rsg_...`` is checked against the catalog's hashed API tokens;
* else the ``resguardo_session`` cookie (see :mod:`resguardo.api.sessions`); a request that changes
  something (any method but GET, HEAD, OPTIONS) must then carry the session's CSRF token in
  ``X-CSRF-Token``. Requests with a token need no CSRF token: browsers do not add that header.

:func:`allow` makes the dependency an endpoint declares its permission with (table in
:mod:`resguardo.api.permissions`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from resguardo.api.context import catalog_session, context_of
from resguardo.api.errors import ApiError
from resguardo.api.permissions import roles_for
from resguardo.api.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_token,
    password_fingerprint,
    read_session,
)
from resguardo.catalog.enums import Role
from resguardo.catalog.models import User
from resguardo.catalog.queries import user_for_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CatalogSession = Annotated[Session, Depends(catalog_session)]


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, and how they proved it (``token`` or ``session``)."""

    user: User
    method: str

    @property
    def roles(self) -> frozenset[Role]:
        """Return the roles of the user."""
        return self.user.roles


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _unauthenticated(message: str = "log in or present an API token (Authorization: Bearer ...)") -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def _from_token(request: Request, session: Session, token: str) -> Principal:
    user = user_for_token(session, token, now=context_of(request).now())
    if user is None:
        raise _unauthenticated("the API token is not valid (unknown, revoked or expired)")
    if session.dirty:
        session.commit()  # keeps the token's last use (recorded to the minute)
    return Principal(user, "token")


def session_principal(request: Request, session: Session, value: str) -> Principal:
    """Return the user of the session cookie ``value``, without checking any CSRF token.

    Raises:
        ApiError: 401 when the session is forged, expired, or its user inactive or with a new password.
    """
    context = context_of(request)
    claims = read_session(context.secret_key, value, context.now())
    if claims is None:
        raise _unauthenticated("the session has ended; log in again")
    user = session.get(User, claims.user_id)
    if (
        user is None
        or not user.active
        or not hmac.compare_digest(password_fingerprint(user.password_hash), claims.password_fingerprint)
    ):
        raise _unauthenticated("the session has ended; log in again")
    return Principal(user, "session")


def csrf_matches(request: Request, value: str, sent: str) -> bool:
    """Return whether ``sent`` is the CSRF token of the session cookie ``value``."""
    expected = csrf_token(context_of(request).secret_key, value)
    return hmac.compare_digest(sent.encode(), expected.encode())


def _from_cookie(request: Request, session: Session, value: str) -> Principal:
    principal = session_principal(request, session, value)
    if request.method not in SAFE_METHODS and not csrf_matches(
        request, value, request.headers.get(CSRF_HEADER, "")
    ):
        raise ApiError(
            403,
            f"a request made with the session cookie must carry its CSRF token in {CSRF_HEADER}",
            {"header": CSRF_HEADER},
        )
    return principal


def authenticated(request: Request, session: CatalogSession) -> Principal:
    """Return who is calling.

    Raises:
        ApiError: 401 without valid credentials; 403 for a cookie request without its CSRF token.
    """
    token = _bearer_token(request)
    if token is not None:
        return _from_token(request, session, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return _from_cookie(request, session, cookie)
    raise _unauthenticated()


def allow(permission: str) -> Any:
    """Return the dependency that admits the callers holding ``permission`` and gives their Principal.

    Raises (when a request is checked):
        ApiError: 401 unauthenticated; 403 when none of the caller's roles holds the permission.
    """
    allowed = roles_for(permission)

    def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.roles & allowed:
            raise ApiError(
                403,
                f"your roles do not allow this ({permission})",
                {"permission": permission, "roles_allowed": sorted(role.value for role in allowed)},
            )
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def permission_of(call: Callable[..., Any]) -> str | None:
    """Return the permission a dependency made by :func:`allow` checks, or None for another callable."""
    return getattr(call, "permission", None)
