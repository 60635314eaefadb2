"""Logging in and out of the console, and the user's language (the API's sessions, rate limiter and
audit entries)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.errors import ApiError
from resguardo.api.routes._common import audit, now_of
from resguardo.api.routes.people import user_audit
from resguardo.api.routes.session import end_session, start_session
from resguardo.catalog.queries import get_user, update_user
from resguardo.web.i18n import LANGUAGES, gettext
from resguardo.web.pages import Fields, page, render, see_other

router = APIRouter(include_in_schema=False)
MAX_USERNAME = 64
MAX_PASSWORD = 1024


def safe_next(target: str | None) -> str:
    """Return ``target`` when it is a path of this site, else the dashboard (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", response_model=None)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """Show the login form."""
    return render(request, "login.html", {"next": safe_next(next), "error": ""})


@router.post("/login", response_model=None)
def login(request: Request, session: CatalogSession, fields: Fields) -> Response:
    """Log in with the form's username and password; go to the page asked for."""
    username = fields.get("username", "")[:MAX_USERNAME]
    password = fields.get("password", "")[:MAX_PASSWORD]
    target = safe_next(fields.get("next"))
    if not username or not password:
        error = gettext("Give your username and your password.")
        return render(
            request, "login.html", {"next": target, "error": error, "username": username}, status=422
        )
    response = see_other(target)
    try:
        start_session(request, response, session, username, password)
    except ApiError as refusal:
        if refusal.status == 429:
            wait = refusal.details.get("retry_after", 60)
            error = gettext("Too many failed logins; try again in %(seconds)s s.") % {"seconds": wait}
        else:
            error = gettext("The username or the password is wrong.")
        context = {"next": target, "error": error, "username": username}
        return render(request, "login.html", context, status=refusal.status)
    return response


@router.post("/logout")
def logout(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("session.show")]
) -> RedirectResponse:
    """Log out and go to the login page."""
    response = see_other("/login")
    end_session(request, response, session, principal)
    return response


@router.post("/language")
def change_language(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("session.show")],
) -> RedirectResponse:
    """Save the user's language (audited as a change of the user) and show the same page again."""
    language = fields.get("language", "")
    user = get_user(session, principal.user.id)
    if language in LANGUAGES and language != user.language.value:
        before = user_audit(user)
        update_user(session, user.id, {"language": language}, now=now_of(request))
        audit(session, request, principal, "user.update", "user", user.id, before, user_audit(user))
        session.commit()
    return see_other(safe_next(fields.get("next")))
