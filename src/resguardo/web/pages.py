"""What every console page shares: who is asking and may they (the API's sessions and permission table),
the CSRF token of forms, the rendering of templates in the user's language, and the page errors.

A page declares its permission with :func:`page`, exactly as the matching API endpoint does with
:func:`resguardo.api.auth.allow`: the same names, the same table (:mod:`resguardo.api.permissions`).
Forms post their CSRF token in the ``csrf_token`` field (htmx requests may send ``X-CSRF-Token``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from resguardo.api.auth import SAFE_METHODS, CatalogSession, Principal, csrf_matches, session_principal
from resguardo.api.errors import ApiError
from resguardo.api.permissions import roles_for
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.api.sessions import CSRF_HEADER, SESSION_COOKIE, csrf_token
from resguardo.web import i18n
from resguardo.web.reasons import reason_text
from resguardo.web.schedules import schedule_in_words

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 50
"""Rows of a listing page."""
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """The request has no valid session: the browser goes to the login page."""


class PageForbidden(Exception):
    """The caller's roles do not hold the page's permission, or a form came without its CSRF token."""

    def __init__(self, permission: str, principal: Principal | None = None) -> None:
        super().__init__(permission)
        self.permission = permission
        self.principal = principal


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    environment.filters.update(
        moment=i18n.format_moment,
        day=i18n.format_day,
        number=i18n.format_number,
        size=i18n.format_size,
        schedule_words=schedule_in_words,
        reason_text=reason_text,
    )
    return environment


ENVIRONMENT = _environment()


async def form_fields(request: Request) -> dict[str, str]:
    """Return the fields of a posted form (an empty dict for GET), text values only, first of each name."""
    if request.method in SAFE_METHODS:
        return {}
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and name not in fields:
            fields[name] = value
    return fields


def form_lists(request: Request) -> dict[str, list[str]]:
    """Return every value of each field of the posted form already read (checkboxes, multiple selects)."""
    form = getattr(request, "_form", None)
    lists: dict[str, list[str]] = {}
    if form is not None:
        for name, value in form.multi_items():
            if isinstance(value, str):
                lists.setdefault(name, []).append(value)
    return lists


Fields = Annotated[dict[str, str], Depends(form_fields)]


def signed_in(request: Request, session: CatalogSession, fields: Fields) -> Principal:
    """Return who is asking, from the session cookie; check a form's CSRF token.

    Raises:
        LoginRequired: no valid session.
        PageForbidden: a form (any method but GET/HEAD) without the session's CSRF token.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired
    try:
        principal = session_principal(request, session, cookie)
    except ApiError:
        raise LoginRequired from None
    if request.method not in SAFE_METHODS:
        sent = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
        if not csrf_matches(request, cookie, sent):
            raise PageForbidden("csrf", principal)
    return principal


def may(principal: Principal | None, permission: str) -> bool:
    """Return whether ``principal`` holds ``permission`` (table of :mod:`resguardo.api.permissions`)."""
    return principal is not None and bool(principal.roles & roles_for(permission))


def page(permission: str) -> Any:
    """Return the dependency admitting the callers holding ``permission``; it gives their Principal.

    Raises (when a request is checked):
        LoginRequired: not logged in.
        PageForbidden: the roles do not allow it, or a form without its CSRF token.
    """

    def check(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
        if not may(principal, permission):
            raise PageForbidden(permission, principal)
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def permission_of(call: Callable[..., Any]) -> str | None:
    """Return the permission a dependency made by :func:`page` checks, or None for another callable."""
    return getattr(call, "permission", None)


def language_of(request: Request, principal: Principal | None) -> str:
    """Return the language of a page: the user's setting, else the browser's, else Spanish."""
    if principal is not None:
        return principal.user.language.value
    return i18n.negotiate(request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Return ``template`` rendered in the caller's language with the console's common context."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    common = {
        "request": request,
        "principal": principal,
        "user": principal.user if principal else None,
        "csrf": csrf_token(request.app.state.context.secret_key, cookie) if principal and cookie else "",
        "may": lambda permission: may(principal, permission),
        "path": request.url.path,
    }
    language = language_of(request, principal)
    with i18n.using_language(language):
        body = ENVIRONMENT.get_template(template).render({**common, "language": language, **context})
    return HTMLResponse(body, status_code=status, headers={"Content-Language": language})


def see_other(url: str) -> RedirectResponse:
    """Return a redirect to ``url`` after a form (303: the browser then GETs it)."""
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    """Return a redirect to the login page that comes back to the current page."""
    target = request.url.path if request.method == "GET" else "/"
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def page_offset(request: Request) -> int:
    """Return where the listing page asked for starts (``?offset=``; 0 when absent or not a number)."""
    value = request.query_params.get("offset", "0")
    return int(value) if value.isdigit() and int(value) < DATABASE_INTEGER_MAX else 0
