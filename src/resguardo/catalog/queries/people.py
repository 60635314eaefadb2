"""Departments, users (with roles and Argon2id password hashes) and API tokens.

Functions flush; the caller commits. Passwords and tokens are never stored in clear: a password as
its Argon2id hash, a token as its SHA-256 (tokens are 256 random bits, so a fast hash is enough).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.catalog.enums import Language, Role
from resguardo.catalog.models import ApiToken, Department, User, UserRole
from resguardo.catalog.passwords import DEFAULT_PARAMETERS, PasswordParameters, hash_password, verify_password
from resguardo.catalog.queries._common import (
    DEFAULT_PAGE_SIZE,
    Page,
    apply_changes,
    ensure_name_free,
    flush_or_conflict,
    get_or_raise,
    paginate,
    reverting_on_error,
    touch,
)
from resguardo.core.errors import Conflict, UsageError

DEPARTMENT_FIELDS = ("name", "description")
USER_FIELDS = ("username", "display_name", "email", "language", "department_id", "active", "notify_failures")
TOKEN_PREFIX = "rsg_"  # noqa: S105 (what every token starts with, not a token)
TOKEN_SHOWN_LENGTH = 12
MINIMUM_PASSWORD_LENGTH = 12
# A token's last use is recorded to the minute: a write on every request would serialise the API's reads.
TOKEN_USE_PRECISION = timedelta(minutes=1)


def create_department(session: Session, *, name: str, now: datetime, description: str = "") -> Department:
    """Add a department and return it. Raises Conflict for a name taken, UsageError for an empty one."""
    ensure_name_free(session, Department, Department.name, name, "department")
    department = Department(name=name, description=description)
    touch(department, now, created=True)
    session.add(department)
    flush_or_conflict(session, "department", name)
    return department


def list_departments(
    session: Session, *, offset: int = 0, limit: int = DEFAULT_PAGE_SIZE
) -> Page[Department]:
    """Return a page of departments by name."""
    return paginate(session, select(Department).order_by(Department.name), offset, limit)


def get_department(session: Session, department_id: int) -> Department:
    """Return a department. Raises NotFound when there is none with that ID."""
    return get_or_raise(session, Department, department_id, "department")


def update_department(
    session: Session, department_id: int, changes: Mapping[str, Any], *, now: datetime
) -> Department:
    """Change a department's name or description (see :data:`DEPARTMENT_FIELDS`); return it.

    Raises:
        NotFound: no such department.
        Conflict: the new name is taken.
        UsageError: an unknown field or an empty name.
    """
    department = get_department(session, department_id)
    if "name" in changes:
        ensure_name_free(
            session, Department, Department.name, changes["name"], "department", exclude_id=department.id
        )
    with reverting_on_error(session, department):
        apply_changes(department, changes, DEPARTMENT_FIELDS, "department")
    touch(department, now)
    flush_or_conflict(session, "department", department.name)
    return department


def delete_department(session: Session, department_id: int) -> None:
    """Remove a department no user belongs to.

    Raises:
        NotFound: no such department.
        Conflict: users still belong to it (named, up to five).
    """
    department = get_department(session, department_id)
    members = list(
        session.scalars(
            select(User.username).where(User.department_id == department.id).order_by(User.username).limit(5)
        )
    )
    if members:
        raise Conflict(
            f"department {department.name!r} still has users: {', '.join(members)}",
            "move those users to another department first",
        )
    session.delete(department)
    session.flush()


def _check_password(password: str) -> None:
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        raise UsageError(
            f"a password needs at least {MINIMUM_PASSWORD_LENGTH} characters",
            "a few unrelated words make a long password that is easy to remember",
        )


def create_user(
    session: Session,
    *,
    username: str,
    now: datetime,
    roles: Iterable[Role | str] = (),
    display_name: str = "",
    email: str = "",
    language: Language | str = Language.SPANISH,
    department_id: int | None = None,
    password: str | None = None,
    password_parameters: PasswordParameters = DEFAULT_PARAMETERS,
) -> User:
    """Add a user holding ``roles``; with ``password``, store its Argon2id hash. Return the user.

    Raises:
        Conflict: the username is taken.
        UsageError: an empty username, an unknown role or language, or a password too short.
    """
    ensure_name_free(session, User, User.username, username, "user")
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        language=_language(language),
        department_id=department_id,
        active=True,
    )
    if password is not None:
        _check_password(password)
        user.password_hash = hash_password(password, password_parameters)
    user.role_grants = [UserRole(role=role) for role in _roles(roles)]
    touch(user, now, created=True)
    session.add(user)
    flush_or_conflict(session, "user", username)
    return user


def _language(value: Language | str) -> Language:
    try:
        return Language(value)
    except ValueError:
        raise UsageError(f"unknown language {value!r}", "choose es or en") from None


def _roles(values: Iterable[Role | str]) -> list[Role]:
    roles = []
    for value in values:
        try:
            roles.append(Role(value))
        except ValueError:
            known = ", ".join(role.value for role in Role)
            raise UsageError(f"unknown role {value!r}", f"the roles are: {known}") from None
    return sorted(set(roles))


def get_user(session: Session, user_id: int) -> User:
    """Return the user with ID ``user_id``. Raises NotFound when there is none."""
    return get_or_raise(session, User, user_id, "user")


def find_user(session: Session, username: str) -> User | None:
    """Return the user named ``username``, or None."""
    return session.scalars(select(User).where(User.username == username)).first()


def list_users(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    role: Role | None = None,
    department_id: int | None = None,
    active: bool | None = None,
) -> Page[User]:
    """Return a page of users by username, optionally only those with a role, department or state."""
    statement = select(User).order_by(User.username)
    if role is not None:
        statement = statement.where(User.role_grants.any(UserRole.role == Role(role)))
    if department_id is not None:
        statement = statement.where(User.department_id == department_id)
    if active is not None:
        statement = statement.where(User.active == active)
    return paginate(session, statement, offset, limit)


def update_user(session: Session, user_id: int, changes: Mapping[str, Any], *, now: datetime) -> User:
    """Change the fields of a user named in ``changes`` (see :data:`USER_FIELDS`); return the user.

    Raises:
        NotFound: no such user.
        Conflict: the new username is taken.
        UsageError: an unknown field or language.
    """
    user = get_user(session, user_id)
    if "username" in changes:
        ensure_name_free(session, User, User.username, changes["username"], "user", exclude_id=user.id)
    with reverting_on_error(session, user):
        apply_changes(user, changes, USER_FIELDS, "user")
        user.language = _language(user.language)
    touch(user, now)
    flush_or_conflict(session, "user", user.username)
    return user


def set_roles(session: Session, user_id: int, roles: Iterable[Role | str], *, now: datetime) -> User:
    """Replace the roles a user holds; return the user. Raises NotFound, or UsageError for a bad role."""
    user = get_user(session, user_id)
    wanted = _roles(roles)
    user.role_grants = [grant for grant in user.role_grants if grant.role in wanted]
    held = {grant.role for grant in user.role_grants}
    user.role_grants.extend(UserRole(role=role) for role in wanted if role not in held)
    touch(user, now)
    session.flush()
    return user


def set_password(
    session: Session,
    user_id: int,
    password: str,
    *,
    now: datetime,
    parameters: PasswordParameters = DEFAULT_PARAMETERS,
) -> None:
    """Store the Argon2id hash of a user's new password. Raises NotFound, or UsageError if too short."""
    _check_password(password)
    user = get_user(session, user_id)
    user.password_hash = hash_password(password, parameters)
    touch(user, now)
    session.flush()


@functools.cache
def _stand_in_hash() -> str:
    """Return a hash to check passwords of unknown users against, made once per process."""
    return hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user ``username`` if ``password`` is theirs, else None (never says which failed)."""
    user = find_user(session, username)
    if user is None or not user.active:
        # Hash anyway, so that the time taken does not reveal whether the user exists.
        verify_password(password, _stand_in_hash())
        return None
    return user if verify_password(password, user.password_hash) else None


def delete_user(session: Session, user_id: int) -> None:
    """Remove a user (jobs they owned keep running, without an owner). Raises NotFound."""
    session.delete(get_user(session, user_id))
    session.flush()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(
    session: Session, user_id: int, *, name: str, now: datetime, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Make a new API token for a user; return its record and the token in clear, shown this once.

    Raises:
        NotFound: no such user.
        UsageError: an empty name.
    """
    get_user(session, user_id)
    if not name.strip():
        raise UsageError("an API token needs a name saying what uses it")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user_id,
        name=name,
        prefix=token[:TOKEN_SHOWN_LENGTH],
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return record, token


def user_for_token(session: Session, token: str, *, now: datetime) -> User | None:
    """Return the active user a valid token belongs to, or None for any bad token.

    The token's ``last_used_at`` is moved to ``now`` (left in the session for the caller to commit) only
    when it is :data:`TOKEN_USE_PRECISION` or more behind, so that most requests only read.
    """
    record = session.scalars(select(ApiToken).where(ApiToken.token_hash == _token_hash(token))).first()
    if record is None or record.revoked_at is not None:
        return None
    if record.expires_at is not None and record.expires_at <= now:
        return None
    user = session.get(User, record.user_id)
    if user is None or not user.active:
        return None
    if record.last_used_at is None or now - record.last_used_at >= TOKEN_USE_PRECISION:
        record.last_used_at = now
    return user


def revoke_api_token(session: Session, token_id: int, *, now: datetime) -> None:
    """Revoke an API token for good. Raises NotFound when there is none with that ID."""
    record = get_or_raise(session, ApiToken, token_id, "API token")
    record.revoked_at = record.revoked_at or now
    session.flush()
