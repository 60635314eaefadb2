"""Logging in and out with a session cookie, and who the caller is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import Field, SecretStr

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.context import context_of
from resguardo.api.errors import ApiError
from resguardo.api.routes._common import Input, audit
from resguardo.api.routes.people import user_json
from resguardo.api.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token, issue_session
from resguardo.catalog.models import User
from resguardo.catalog.queries import authenticate, record_audit

router = APIRouter(prefix="/api/v1", tags=["session"])


class Login(Input):
    """A username and password."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[SecretStr, Field(min_length=1, max_length=1024)]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def start_session(
    request: Request, response: Response, session: CatalogSession, username: str, password: str
) -> tuple[User, str]:
    """Check a username and password; on success set the session cookies on ``response``, record the
    login in the audit log, commit, and return the user and the session's CSRF token.

    Raises:
        ApiError: 429 (with ``Retry-After``) after too many failures for the user from the address;
            401 when the username or the password is wrong (the failure is audited).
    """
    context = context_of(request)
    now, address = context.now(), _address(request)
    wait = context.login_limiter.retry_after(username, address, now)
    if wait:
        raise ApiError(
            429,
            f"too many failed logins; try again in {wait} s",
            {"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )
    user = authenticate(session, username, password)
    if user is None:
        context.login_limiter.failed(username, address, now)
        record_audit(
            session, now=now, action="session.login_failed", object_type="user", object_id=username[:64]
        )
        session.commit()
        raise ApiError(401, "the username or the password is wrong")
    context.login_limiter.succeeded(username, address)
    value = issue_session(
        context.secret_key, user.id, now + context.settings.session_lifetime, user.password_hash
    )
    csrf = csrf_token(context.secret_key, value)
    lifetime = int(context.settings.session_lifetime.total_seconds())
    secure = context.settings.cookie_secure
    response.set_cookie(
        SESSION_COOKIE, value, max_age=lifetime, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=lifetime, httponly=False, samesite="lax", secure=secure, path="/"
    )
    record_audit(session, now=now, action="session.login", object_type="user", object_id=user.id, actor=user)
    session.commit()
    return user, csrf


def end_session(request: Request, response: Response, session: CatalogSession, principal: Principal) -> None:
    """Clear the session cookies on ``response``, record the logout in the audit log, and commit."""
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    audit(session, request, principal, "session.logout", "user", principal.user.id)
    session.commit()


@router.post("/session")
def session_login(
    body: Login, request: Request, response: Response, session: CatalogSession
) -> dict[str, Any]:
    """Log in: set the session cookie and return the CSRF token that state-changing requests must carry.

    After too many failures for a user from one address, answers 429 with ``Retry-After``.
    """
    user, csrf = start_session(request, response, session, body.username, body.password.get_secret_value())
    lifetime = int(context_of(request).settings.session_lifetime.total_seconds())
    return {"user": user_json(user), "csrf_token": csrf, "expires_in": lifetime}


@router.get("/session")
def session_show(principal: Annotated[Principal, allow("session.show")]) -> dict[str, Any]:
    """Return the caller: their user and how they authenticated."""
    return {"user": user_json(principal.user), "method": principal.method}


@router.delete("/session", status_code=204)
def session_logout(
    request: Request,
    response: Response,
    session: CatalogSession,
    principal: Annotated[Principal, allow("session.show")],
) -> None:
    """Log out: clear the session cookies in the browser."""
    end_session(request, response, session, principal)
