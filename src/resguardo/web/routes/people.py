"""Users and their roles (administrators only: ``users.read``, ``users.write``), saved by the API's
endpoint functions (a password is written, never shown; the audit log notes that it changed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import people as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.catalog.enums import Language, Role
from resguardo.catalog.queries import get_user, list_departments, list_users
from resguardo.catalog.queries._common import MAX_PAGE_SIZE
from resguardo.web.forms import FormState, checked, flag, submit
from resguardo.web.pages import PAGE_SIZE, Fields, form_lists, page, page_offset, render

router = APIRouter(include_in_schema=False)
UserId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
TEXT_FIELDS = ("username", "display_name", "email", "language")


@router.get("/users")
def users_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("users.read")]
) -> HTMLResponse:
    """List users with their roles."""
    listing = list_users(session, offset=page_offset(request), limit=PAGE_SIZE)
    return render(request, "users.html", {"listing": listing}, principal)


def _user_form(session: Session, values: dict[str, Any], user_id: int | None = None) -> dict[str, Any]:
    departments = [("", "—")] + [
        (str(department.id), department.name)
        for department in list_departments(session, limit=MAX_PAGE_SIZE).items
    ]
    return {
        "form": FormState(values),
        "user_id": user_id,
        "roles": list(Role),
        "languages": list(Language),
        "departments": departments,
    }


def _user_values(request: Request, fields: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: fields.get(name, "") for name in TEXT_FIELDS}
    values["roles"] = form_lists(request).get("roles", [])
    values["active"] = flag(fields, "active")
    values["notify_failures"] = flag(fields, "notify_failures")
    values["department_id"] = fields.get("department_id", "")
    return values


def _department_id(values: dict[str, Any]) -> int | str | None:
    """Return the form's department for the API: None for none, else the ID (as sent, for it to check)."""
    chosen = str(values.get("department_id") or "")
    return int(chosen) if chosen.isdigit() else (chosen or None)


@router.get("/users/new")
def user_new(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("users.write")]
) -> HTMLResponse:
    """Show the form of a new user."""
    values = {"language": Language.SPANISH.value, "roles": [], "active": True, "department_id": ""}
    return render(request, "user_form.html", _user_form(session, values), principal)


@router.post("/users/new")
def user_create(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("users.write")],
) -> Response:
    """Add a user as ``POST /api/v1/users`` does."""
    values = _user_values(request, fields)

    def save() -> str:
        body = {name: values[name] for name in (*TEXT_FIELDS, "roles")}
        body["department_id"] = _department_id(values)
        api.users_create(
            checked(api.UserCreate, {**body, "password": fields.get("password", "")}),
            request,
            session,
            principal,
        )
        return "/users"

    return submit(request, session, principal, "user_form.html", _user_form(session, values), save)


@router.get("/users/{user_id}/edit")
def user_edit(
    user_id: UserId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("users.write")],
) -> HTMLResponse:
    """Show the form of a user (the password field is empty: a new one replaces it)."""
    user = get_user(session, user_id)
    values: dict[str, Any] = {name: getattr(user, name) for name in TEXT_FIELDS}
    values.update(
        language=user.language.value,
        roles=sorted(role.value for role in user.roles),
        active=user.active,
        notify_failures=user.notify_failures,
        department_id=str(user.department_id or ""),
    )
    return render(request, "user_form.html", _user_form(session, values, user_id), principal)


@router.post("/users/{user_id}/edit")
def user_update(
    user_id: UserId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("users.write")],
) -> Response:
    """Change a user, their roles and (when typed) their password, as ``PATCH /api/v1/users/{id}`` does."""
    values = _user_values(request, fields)

    def save() -> str:
        body: dict[str, Any] = {
            name: values[name] for name in (*TEXT_FIELDS, "roles", "active", "notify_failures")
        }
        body["department_id"] = _department_id(values)
        if fields.get("password"):
            body["password"] = fields["password"]
        api.users_update(user_id, checked(api.UserUpdate, body), request, session, principal)
        return "/users"

    return submit(request, session, principal, "user_form.html", _user_form(session, values, user_id), save)
