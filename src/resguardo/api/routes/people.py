"""Users (administrators only) and API tokens (each user their own; the token is shown once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field, SecretStr

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.errors import ApiError
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    Identifier,
    IdFilter,
    Input,
    Limit,
    Name,
    Offset,
    audit,
    changes_of,
    naming_fields,
    now_of,
    page_of,
)
from resguardo.catalog.enums import Language, Role
from resguardo.catalog.models import ApiToken, User
from resguardo.catalog.queries import (
    create_api_token,
    create_user,
    delete_user,
    get_user,
    list_users,
    revoke_api_token,
    set_password,
    set_roles,
    snapshot_of,
    update_user,
)
from resguardo.catalog.queries._common import get_or_raise, paginate
from resguardo.catalog.queries.people import MINIMUM_PASSWORD_LENGTH

router = APIRouter(prefix="/api/v1", tags=["people"])
UserId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
TokenId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
Password = Annotated[SecretStr, Field(min_length=MINIMUM_PASSWORD_LENGTH, max_length=1024)]
Roles = Annotated[list[Role], Field(max_length=len(Role))]
USER_FIELDS = ("username", "password", "language", "roles")


class UserCreate(Input):
    """A new user with a password (at least 12 characters) and roles."""

    username: Username
    password: Password
    roles: Roles = Field(default_factory=list)
    display_name: Annotated[str, Field(max_length=120)] = ""
    email: Annotated[str, Field(max_length=254)] = ""
    language: Language = Language.SPANISH
    department_id: Identifier | None = None


class UserUpdate(Input):
    """Changes to a user; ``roles`` replaces their roles, ``password`` sets a new one."""

    username: Username | None = None
    password: Password | None = None
    roles: Roles | None = None
    display_name: Annotated[str, Field(max_length=120)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    language: Language | None = None
    department_id: Identifier | None = None
    active: bool | None = None
    notify_failures: bool | None = None


def user_json(user: User) -> dict[str, Any]:
    """Return a user as JSON (never the password hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "language": user.language.value,
        "department_id": user.department_id,
        "roles": sorted(role.value for role in user.roles),
        "active": user.active,
        "notify_failures": user.notify_failures,
        "has_password": bool(user.password_hash),
    }


def user_audit(user: User) -> dict[str, Any]:
    """Return the audit snapshot of a user: its fields (no password hash) and its roles."""
    return {**snapshot_of(user), "roles": sorted(role.value for role in user.roles)}


@router.get("/users")
def users_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("users.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    role: Annotated[Role | None, Query()] = None,
    department_id: IdFilter = None,
    active: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    """List users by username, filtered by role, department or active."""
    page = list_users(
        session, offset=offset, limit=limit, role=role, department_id=department_id, active=active
    )
    return page_of(page, user_json)


@router.post("/users", status_code=201)
def users_create(
    body: UserCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("users.write")],
) -> dict[str, Any]:
    """Add a user."""
    with naming_fields(USER_FIELDS):
        user = create_user(
            session,
            username=body.username,
            now=now_of(request),
            roles=body.roles,
            display_name=body.display_name,
            email=body.email,
            language=body.language,
            department_id=body.department_id,
            password=body.password.get_secret_value(),
        )
    audit(session, request, principal, "user.create", "user", user.id, after=user_audit(user))
    session.commit()
    return user_json(user)


@router.get("/users/{user_id}")
def users_show(
    user_id: UserId, session: CatalogSession, principal: Annotated[Principal, allow("users.read")]
) -> dict[str, Any]:
    """Show one user."""
    return user_json(get_user(session, user_id))


@router.patch("/users/{user_id}")
def users_update(
    user_id: UserId,
    body: UserUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("users.write")],
) -> dict[str, Any]:
    """Change a user: fields, roles, password (the audit log notes that it changed, never what to)."""
    before = user_audit(get_user(session, user_id))
    changes = changes_of(body, ("password", "roles"))
    changes = {key: value for key, value in changes.items() if value is not None or key == "department_id"}
    now = now_of(request)
    with naming_fields(USER_FIELDS):
        update_user(session, user_id, changes, now=now)
        if body.roles is not None:
            set_roles(session, user_id, body.roles, now=now)
        if body.password is not None:
            set_password(session, user_id, body.password.get_secret_value(), now=now)
    user = get_user(session, user_id)
    after = {**user_audit(user), "password_changed": body.password is not None}
    audit(session, request, principal, "user.update", "user", user_id, before, after)
    session.commit()
    return user_json(user)


@router.delete("/users/{user_id}", status_code=204)
def users_delete(
    user_id: UserId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("users.write")],
) -> None:
    """Remove a user (an administrator cannot remove themselves)."""
    if user_id == principal.user.id:
        raise ApiError(409, "you cannot remove your own user; ask another administrator")
    before = user_audit(get_user(session, user_id))
    delete_user(session, user_id)
    audit(session, request, principal, "user.delete", "user", user_id, before=before)
    session.commit()


class TokenCreate(Input):
    """A new API token for the caller: a name saying what uses it, and an optional expiry."""

    name: Name
    expires_at: datetime | None = None


def token_json(record: ApiToken) -> dict[str, Any]:
    """Return an API token's record as JSON (its first characters, never the token)."""
    return {
        "id": record.id,
        "user_id": record.user_id,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat() if record.expires_at else None,
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@router.get("/tokens")
def tokens_list(
    session: CatalogSession,
    principal: Annotated[Principal, allow("tokens.own")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List the caller's API tokens."""
    from sqlalchemy import select

    statement = select(ApiToken).where(ApiToken.user_id == principal.user.id).order_by(ApiToken.id)
    return page_of(paginate(session, statement, offset, limit), token_json)


@router.post("/tokens", status_code=201)
def tokens_create(
    body: TokenCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("tokens.own")],
) -> dict[str, Any]:
    """Make an API token for the caller; the response holds the token, shown this once."""
    expires_at = body.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        raise ApiError(
            422, "expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)", {"field": "expires_at"}
        )
    record, token = create_api_token(
        session, principal.user.id, name=body.name, now=now_of(request), expires_at=expires_at
    )
    audit(session, request, principal, "token.create", "api_token", record.id, after=snapshot_of(record))
    session.commit()
    return {**token_json(record), "token": token}


@router.delete("/tokens/{token_id}", status_code=204)
def tokens_revoke(
    token_id: TokenId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("tokens.own")],
) -> None:
    """Revoke one of the caller's API tokens (administrators may revoke anyone's)."""
    record = get_or_raise(session, ApiToken, token_id, "API token")
    if record.user_id != principal.user.id and Role.ADMINISTRATOR not in principal.roles:
        raise ApiError(404, f"no API token has the ID {token_id}")
    before = snapshot_of(record)
    revoke_api_token(session, token_id, now=now_of(request))
    audit(session, request, principal, "token.revoke", "api_token", token_id, before, snapshot_of(record))
    session.commit()
