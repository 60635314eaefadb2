"""Client servers and repositories: create, look up, list, change, remove; repository secrets.

Secrets are sealed with the catalog's :class:`~resguardo.catalog.secrets.SecretKey` and never come
back from these functions, except through :func:`reveal_secret`, which the workers call to open a
repository. Functions flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from resguardo.catalog.enums import SecretName, Transport
from resguardo.catalog.models import Client, Job, Repository, RepositorySecret
from resguardo.catalog.models.inventory import DEFAULT_MAX_CONCURRENT_RUNS, MAX_CONCURRENT_RUNS_LIMIT
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
from resguardo.catalog.queries._sealed import open_sealed, store_sealed
from resguardo.catalog.queries.client_secrets import check_client_credentials
from resguardo.catalog.secrets import SecretKey
from resguardo.core.errors import Conflict, NotFound, UsageError

CLIENT_FIELDS = ("name", "address", "port", "ssh_user", "transport", "notes", "ssh_host_key", "database_url")
REPOSITORY_FIELDS = ("name", "url", "options", "notes", "max_concurrent_runs")
REPOSITORY_SCHEMES = ("sftp://", "s3://", "local:", "/")


def _check_client(client: Client) -> None:
    """Raises UsageError when the port is out of range or an SSH client has no address."""
    if not 1 <= client.port <= 65535:
        raise UsageError(f"the port of client {client.name!r} must be from 1 to 65535, not {client.port}")
    if Transport(client.transport) is Transport.SSH and not client.address.strip():
        raise UsageError(f"client {client.name!r} is reached over SSH and needs an address")
    check_client_credentials(client)


def create_client(
    session: Session,
    *,
    name: str,
    now: datetime,
    address: str = "",
    port: int = 22,
    ssh_user: str = "",
    transport: Transport = Transport.SSH,
    notes: str = "",
    ssh_host_key: str = "",
    database_url: str = "",
) -> Client:
    """Add a client server and return it (its secrets are set with
    :func:`~resguardo.catalog.queries.client_secrets.set_client_secret`).

    Raises:
        Conflict: the name is taken.
        UsageError: the name is empty, the port is out of range, an SSH client has no address, or the
            host key or database URL is malformed.
    """
    ensure_name_free(session, Client, Client.name, name, "client")
    client = Client(
        name=name,
        address=address,
        port=port,
        ssh_user=ssh_user,
        transport=_transport(transport),
        notes=notes,
        ssh_host_key=ssh_host_key,
        database_url=database_url,
    )
    _check_client(client)
    touch(client, now, created=True)
    session.add(client)
    flush_or_conflict(session, "client", name)
    return client


def get_client(session: Session, client_id: int) -> Client:
    """Return the client with ID ``client_id``. Raises NotFound when there is none."""
    return get_or_raise(session, Client, client_id, "client")


def list_clients(
    session: Session, *, offset: int = 0, limit: int = DEFAULT_PAGE_SIZE, name_contains: str = ""
) -> Page[Client]:
    """Return a page of clients by name, optionally those whose name contains ``name_contains``."""
    statement = select(Client).order_by(Client.name)
    if name_contains:
        statement = statement.where(Client.name.contains(name_contains, autoescape=True))
    return paginate(session, statement, offset, limit)


def _transport(value: str) -> Transport:
    """Return the transport ``value`` names.

    Raises:
        UsageError: it names none.
    """
    try:
        return Transport(value)
    except ValueError:
        choices = ", ".join(transport.value for transport in Transport)
        raise UsageError(f"unknown transport {value!r}", f"use one of: {choices}") from None


def update_client(session: Session, client_id: int, changes: Mapping[str, Any], *, now: datetime) -> Client:
    """Change the fields of a client named in ``changes`` (see :data:`CLIENT_FIELDS`); return it.

    Raises:
        NotFound: no such client.
        Conflict: the new name is taken.
        UsageError: an unknown field, or a value :func:`create_client` would refuse.
    """
    client = get_client(session, client_id)
    if "name" in changes:
        ensure_name_free(session, Client, Client.name, changes["name"], "client", exclude_id=client.id)
    with reverting_on_error(session, client):
        apply_changes(client, changes, CLIENT_FIELDS, "client")
        client.transport = _transport(client.transport)
        _check_client(client)
    touch(client, now)
    flush_or_conflict(session, "client", client.name)
    return client


def delete_client(session: Session, client_id: int) -> None:
    """Remove a client that no job uses.

    Raises:
        NotFound: no such client.
        Conflict: jobs still back it up.
    """
    client = get_client(session, client_id)
    _refuse_if_used(session, Job.client_id == client.id, f"client {client.name!r}")
    session.delete(client)
    session.flush()


def _refuse_if_used(session: Session, condition: Any, what: str) -> None:
    names = list(session.scalars(select(Job.name).where(condition).order_by(Job.name).limit(5)))
    if names:
        raise Conflict(f"{what} is used by jobs: {', '.join(names)}", "remove or change those jobs first")


def _check_url(url: str) -> None:
    if not url.strip() or not url.startswith(REPOSITORY_SCHEMES):
        raise UsageError(
            f"a repository location must be an absolute path, local:PATH, sftp://... or s3://..., not {url!r}"
        )


def _check_run_limit(value: object) -> None:
    """Raises UsageError when ``value`` is not a whole number from 1 to MAX_CONCURRENT_RUNS_LIMIT."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENT_RUNS_LIMIT:
        raise UsageError(
            f"max_concurrent_runs of a repository must be a whole number from 1 to "
            f"{MAX_CONCURRENT_RUNS_LIMIT}, not {value!r}",
            "give how many runs may back up into the repository at once (2 by default)",
        )


def create_repository(
    session: Session,
    key: SecretKey,
    *,
    name: str,
    url: str,
    now: datetime,
    options: Mapping[str, Any] | None = None,
    notes: str = "",
    secrets: Mapping[SecretName | str, str] | None = None,
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS,
) -> Repository:
    """Add a repository and seal its ``secrets`` (by :class:`SecretName`); return it.

    ``max_concurrent_runs`` (1 to 64) caps the runs backing up into it at once.

    Raises:
        Conflict: the name is taken.
        UsageError: the name is empty, the location is not one Resguardo can open, a secret's name
            is unknown, or ``max_concurrent_runs`` is out of range.
    """
    ensure_name_free(session, Repository, Repository.name, name, "repository")
    _check_url(url)
    _check_run_limit(max_concurrent_runs)
    repository = Repository(
        name=name,
        url=url,
        options=dict(options or {}),
        notes=notes,
        max_concurrent_runs=max_concurrent_runs,
    )
    touch(repository, now, created=True)
    session.add(repository)
    flush_or_conflict(session, "repository", name)
    for secret_name, value in (secrets or {}).items():
        set_secret(session, key, repository.id, secret_name, value)
    return repository


def get_repository(session: Session, repository_id: int) -> Repository:
    """Return the repository with ID ``repository_id`` (secrets stay sealed). Raises NotFound."""
    return get_or_raise(session, Repository, repository_id, "repository")


def list_repositories(
    session: Session, *, offset: int = 0, limit: int = DEFAULT_PAGE_SIZE, name_contains: str = ""
) -> Page[Repository]:
    """Return a page of repositories by name, optionally filtered by a part of the name."""
    statement = select(Repository).order_by(Repository.name)
    if name_contains:
        statement = statement.where(Repository.name.contains(name_contains, autoescape=True))
    return paginate(session, statement, offset, limit)


def update_repository(
    session: Session, repository_id: int, changes: Mapping[str, Any], *, now: datetime
) -> Repository:
    """Change the fields of a repository named in ``changes`` (see :data:`REPOSITORY_FIELDS`).

    Secrets change with :func:`set_secret` and :func:`remove_secret` only.

    Raises:
        NotFound, Conflict, UsageError: as for clients; also for a location Resguardo cannot open.
    """
    repository = get_repository(session, repository_id)
    if "name" in changes:
        ensure_name_free(
            session, Repository, Repository.name, changes["name"], "repository", exclude_id=repository.id
        )
    if "url" in changes:
        _check_url(changes["url"])
    if "max_concurrent_runs" in changes:
        _check_run_limit(changes["max_concurrent_runs"])
    apply_changes(repository, changes, REPOSITORY_FIELDS, "repository")
    touch(repository, now)
    flush_or_conflict(session, "repository", repository.name)
    return repository


def delete_repository(session: Session, repository_id: int) -> None:
    """Remove a repository that no job uses (its sealed secrets go with it).

    Raises:
        NotFound: no such repository.
        Conflict: jobs still write to it.
    """
    repository = get_repository(session, repository_id)
    _refuse_if_used(session, Job.repository_id == repository.id, f"repository {repository.name!r}")
    session.delete(repository)
    session.flush()


def _secret_context(repository_id: int, name: SecretName) -> bytes:
    """Return the associated data a secret is sealed with: what it belongs to."""
    return f"resguardo catalog repository secret\0{repository_id}\0{name.value}".encode()


def _secret_name(name: SecretName | str) -> SecretName:
    try:
        return SecretName(name)
    except ValueError:
        known = ", ".join(member.value for member in SecretName)
        raise UsageError(f"a repository has no secret named {name!r}", f"the secrets are: {known}") from None


def set_secret(
    session: Session, key: SecretKey, repository_id: int, name: SecretName | str, value: str
) -> None:
    """Seal ``value`` as the repository's secret ``name``, replacing any earlier value.

    Raises:
        NotFound: no such repository.
        UsageError: an unknown secret name, or an empty value.
    """
    secret_name = _secret_name(name)
    if not value:
        raise UsageError(f"the {secret_name.value} of a repository cannot be empty")
    repository = get_repository(session, repository_id)
    context = _secret_context(repository.id, secret_name)
    store_sealed(session, key, repository, RepositorySecret, "repository_id", secret_name, value, context)


def remove_secret(session: Session, repository_id: int, name: SecretName | str) -> None:
    """Remove the repository's secret ``name`` (nothing happens if it is not set).

    Raises:
        UsageError: an unknown secret name.
    """
    secret_name = _secret_name(name)
    session.execute(
        delete(RepositorySecret).where(
            RepositorySecret.repository_id == repository_id, RepositorySecret.name == secret_name
        )
    )
    session.expire_all()


def reveal_secret(session: Session, key: SecretKey, repository_id: int, name: SecretName | str) -> str:
    """Return the clear value of a repository's secret, for a worker about to open the repository.

    The one function of the catalog that gives a secret back: never log or show what it returns.

    Raises:
        NotFound: the repository has no such secret set.
        SecretKeyError: ``key`` is not the key that sealed it, or the stored value was altered.
    """
    secret_name = _secret_name(name)
    secret = session.get(RepositorySecret, (repository_id, secret_name))
    if secret is None:
        raise NotFound(
            f"repository {repository_id} has no {secret_name.value} set",
            "set it on the repository before running its jobs",
        )
    context = _secret_context(repository_id, secret_name)
    return open_sealed(key, secret, context, f"{secret_name.value} of repository {repository_id}")
