"""What the embedded service sets up on its first start: an administrator, a repository and this server.

Both steps do nothing when the catalog already has what they would add, so every later start of
``resguardo serve`` leaves the catalog as it is. Neither prints: the caller decides what to show.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from resguardo.catalog import Role, SecretKey, SecretName, Transport, queries
from resguardo.catalog.models import Client, Repository, User
from resguardo.catalog.models.people import NAME_LENGTH

DEFAULT_ADMIN_USERNAME = "admin"
DEFAULT_REPOSITORY_NAME = "local"
DEFAULT_REPOSITORY_FOLDER = "repositories/local"
GENERATED_SECRET_BYTES = 24


@dataclass(frozen=True)
class Administrator:
    """The administrator the first start created.

    Attributes:
        username: the user's name.
        generated_password: the password made up for it, or None when the caller chose one.
    """

    username: str
    generated_password: str | None = field(default=None, repr=False)


def ensure_administrator(
    session: Session, *, username: str, password: str | None, now: datetime
) -> Administrator | None:
    """Create an administrator when the catalog has no user at all, and commit.

    Args:
        session: a catalog session with no pending work.
        username: the administrator's name.
        password: its password; None to make one up (returned, for showing once).
        now: the time of creation.

    Returns:
        The administrator created, or None when the catalog had users already.

    Raises:
        UsageError: the username is empty or the password too short.
    """
    if session.scalar(select(func.count()).select_from(User)):
        session.rollback()
        return None
    generated = None if password is not None else secrets.token_urlsafe(GENERATED_SECRET_BYTES)
    user = queries.create_user(
        session,
        username=username,
        roles=[Role.ADMINISTRATOR],
        display_name="Administrator",
        password=password if password is not None else generated,
        now=now,
    )
    queries.record_audit(
        session,
        now=now,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after={"username": username, "roles": [str(Role.ADMINISTRATOR)], "password_set": True},
    )
    session.commit()
    return Administrator(username=username, generated_password=generated)


def ensure_default_repository(
    session: Session, secret_key: SecretKey, data_dir: Path, now: datetime
) -> Repository | None:
    """Add a repository in ``data_dir`` with a random passphrase (sealed) when the catalog has none.

    The repository itself is created in its folder by the first backup that uses it.

    Args:
        session: a catalog session with no pending work.
        secret_key: seals the passphrase.
        data_dir: the service's data directory; the repository is its ``repositories/local``.
        now: the time of creation.

    Returns:
        The repository added, or None when the catalog had one already.
    """
    if session.scalar(select(func.count()).select_from(Repository)):
        session.rollback()
        return None
    location = (data_dir / DEFAULT_REPOSITORY_FOLDER).resolve()
    repository = queries.create_repository(
        session,
        secret_key,
        name=DEFAULT_REPOSITORY_NAME,
        url=str(location),
        now=now,
        notes="created by the first start of resguardo serve",
        secrets={SecretName.PASSPHRASE: secrets.token_urlsafe(GENERATED_SECRET_BYTES)},
    )
    queries.record_audit(
        session,
        now=now,
        action="repository.create",
        object_type="repository",
        object_id=repository.id,
        after={"name": repository.name, "url": repository.url, "secrets_set": [str(SecretName.PASSPHRASE)]},
    )
    session.commit()
    return repository


def ensure_local_client(session: Session, now: datetime, name: str | None = None) -> Client | None:
    """Add the machine the service runs on as a client (transport ``local``) when the catalog has none.

    So that a first job can back up a folder of this server at once, before any remote server is added.

    Args:
        session: a catalog session with no pending work.
        now: the time of creation.
        name: the client's name; the host name (cut to the longest name allowed) when None.

    Returns:
        The client added, or None when the catalog had a client already.
    """
    if session.scalar(select(func.count()).select_from(Client)):
        session.rollback()
        return None
    chosen = (name or socket.gethostname() or "localhost")[:NAME_LENGTH]
    client = queries.create_client(
        session,
        name=chosen,
        transport=Transport.LOCAL,
        now=now,
        notes="the server Resguardo runs on, added by its first start",
    )
    queries.record_audit(
        session,
        now=now,
        action="client.create",
        object_type="client",
        object_id=client.id,
        after={"name": client.name, "transport": str(Transport.LOCAL)},
    )
    session.commit()
    return client
