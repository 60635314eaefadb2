"""Client servers and repositories. Client and repository secrets are write-only: accepted, never returned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import Field, SecretStr

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    Input,
    Limit,
    Name,
    NameFilter,
    Offset,
    ShortText,
    Text,
    audit,
    changes_of,
    naming_fields,
    now_of,
    page_of,
)
from resguardo.catalog.enums import ClientSecretName, SecretName, Transport
from resguardo.catalog.models import Client, Repository
from resguardo.catalog.models.inventory import DEFAULT_MAX_CONCURRENT_RUNS, MAX_CONCURRENT_RUNS_LIMIT
from resguardo.catalog.queries import (
    client_secret_names,
    create_client,
    create_repository,
    delete_client,
    delete_repository,
    get_client,
    get_repository,
    list_clients,
    list_repositories,
    remove_client_secret,
    remove_secret,
    set_client_secret,
    set_secret,
    snapshot_of,
    update_client,
    update_repository,
)
from resguardo.catalog.queries.inventory import REPOSITORY_SCHEMES

router = APIRouter(prefix="/api/v1", tags=["inventory"])
ClientId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
RepositoryId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
Port = Annotated[int, Field(ge=1, le=65535)]
Location = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^(sftp://|s3://|local:|/)[^\x00]*$")]
SecretValue = Annotated[SecretStr, Field(min_length=1, max_length=16_384)]
CLIENT_FIELDS = ("name", "address", "port", "ssh_user", "transport", "notes", "ssh_host_key", "database_url")
HostKey = Annotated[str, Field(max_length=16_384)]
DatabaseUrl = Annotated[str, Field(max_length=1024)]
REPOSITORY_FIELDS = ("max_concurrent_runs", "name", "url", "options", "notes")
RunLimit = Annotated[int, Field(ge=1, le=MAX_CONCURRENT_RUNS_LIMIT, strict=True)]
assert REPOSITORY_SCHEMES  # the pattern of Location spells the same schemes


class ClientCreate(Input):
    """A new client server."""

    name: Name
    address: ShortText = ""
    port: Port = 22
    ssh_user: Annotated[str, Field(max_length=64)] = ""
    transport: Transport = Transport.SSH
    notes: Text = ""
    ssh_host_key: HostKey = ""
    database_url: DatabaseUrl = ""
    secrets: dict[ClientSecretName, SecretValue] = Field(default_factory=dict)


class ClientUpdate(Input):
    """Changes to a client server (only the fields sent change); ``secrets`` replaces the named secrets,
    ``remove_secrets`` drops some."""

    name: Name | None = None
    address: ShortText | None = None
    port: Port | None = None
    ssh_user: Annotated[str, Field(max_length=64)] | None = None
    transport: Transport | None = None
    notes: Text | None = None
    ssh_host_key: HostKey | None = None
    database_url: DatabaseUrl | None = None
    secrets: dict[ClientSecretName, SecretValue] = Field(default_factory=dict)
    remove_secrets: list[ClientSecretName] = Field(default_factory=list, max_length=len(ClientSecretName))


def client_audit(client: Client) -> dict[str, Any]:
    """Return the audit snapshot of a client: its fields and the names of its secrets."""
    return {**snapshot_of(client), "secrets_set": client_secret_names(client)}


def client_json(client: Client) -> dict[str, Any]:
    """Return a client as JSON: which secrets are set, never their values."""
    return {
        "id": client.id,
        "name": client.name,
        "address": client.address,
        "port": client.port,
        "ssh_user": client.ssh_user,
        "transport": client.transport.value,
        "notes": client.notes,
        "ssh_host_key": client.ssh_host_key,
        "database_url": client.database_url,
        "secrets_set": client_secret_names(client),
        "created_at": client.created_at.isoformat(),
        "updated_at": client.updated_at.isoformat(),
    }


@router.get("/clients")
def clients_list(
    session: CatalogSession,
    principal: Annotated[Principal, allow("clients.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    name_contains: NameFilter = "",
) -> dict[str, Any]:
    """List client servers by name."""
    return page_of(
        list_clients(session, offset=offset, limit=limit, name_contains=name_contains), client_json
    )


@router.post("/clients", status_code=201)
def clients_create(
    body: ClientCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("clients.write")],
) -> dict[str, Any]:
    """Add a client server, sealing its secrets (SSH key, its passphrase, database password)."""
    key = request.app.state.context.secret_key
    with naming_fields(CLIENT_FIELDS):
        client = create_client(session, now=now_of(request), **body.model_dump(exclude={"secrets"}))
    for name, value in body.secrets.items():
        set_client_secret(session, key, client.id, name, value.get_secret_value())
    session.refresh(client)
    audit(session, request, principal, "client.create", "client", client.id, after=client_audit(client))
    session.commit()
    return client_json(client)


@router.get("/clients/{client_id}")
def clients_show(
    client_id: ClientId, session: CatalogSession, principal: Annotated[Principal, allow("clients.read")]
) -> dict[str, Any]:
    """Show one client server."""
    return client_json(get_client(session, client_id))


@router.patch("/clients/{client_id}")
def clients_update(
    client_id: ClientId,
    body: ClientUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("clients.write")],
) -> dict[str, Any]:
    """Change a client server; set or remove its secrets."""
    secret_key = request.app.state.context.secret_key
    before = client_audit(get_client(session, client_id))
    changes = {
        key: value
        for key, value in changes_of(body, ("secrets", "remove_secrets")).items()
        if value is not None
    }
    with naming_fields(CLIENT_FIELDS):
        update_client(session, client_id, changes, now=now_of(request))
    for name in body.remove_secrets:
        remove_client_secret(session, client_id, name)
    for name, value in body.secrets.items():
        set_client_secret(session, secret_key, client_id, name, value.get_secret_value())
    client = get_client(session, client_id)
    session.refresh(client)
    audit(session, request, principal, "client.update", "client", client_id, before, client_audit(client))
    session.commit()
    return client_json(client)


@router.delete("/clients/{client_id}", status_code=204)
def clients_delete(
    client_id: ClientId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("clients.write")],
) -> None:
    """Remove a client server no job uses, with its sealed secrets."""
    before = client_audit(get_client(session, client_id))
    delete_client(session, client_id)
    audit(session, request, principal, "client.delete", "client", client_id, before=before)
    session.commit()


class RepositoryCreate(Input):
    """A new repository; ``secrets`` (passphrase, credentials) are sealed and never shown again."""

    name: Name
    url: Location
    options: dict[str, str | int | bool | None] = Field(default_factory=dict, max_length=50)
    notes: Text = ""
    max_concurrent_runs: RunLimit = DEFAULT_MAX_CONCURRENT_RUNS
    secrets: dict[SecretName, SecretValue] = Field(default_factory=dict)


class RepositoryUpdate(Input):
    """Changes to a repository; ``secrets`` replaces the named secrets, ``remove_secrets`` drops some."""

    name: Name | None = None
    url: Location | None = None
    options: dict[str, str | int | bool | None] | None = Field(default=None, max_length=50)
    notes: Text | None = None
    max_concurrent_runs: RunLimit | None = None
    secrets: dict[SecretName, SecretValue] = Field(default_factory=dict)
    remove_secrets: list[SecretName] = Field(default_factory=list, max_length=len(SecretName))


def repository_json(repository: Repository) -> dict[str, Any]:
    """Return a repository as JSON: which secrets are set, never their values."""
    names = repository.secret_names
    return {
        "id": repository.id,
        "name": repository.name,
        "url": repository.url,
        "options": repository.options,
        "notes": repository.notes,
        "max_concurrent_runs": repository.max_concurrent_runs,
        "has_passphrase": SecretName.PASSPHRASE in names,
        "secrets_set": sorted(name.value for name in names),
        "created_at": repository.created_at.isoformat(),
        "updated_at": repository.updated_at.isoformat(),
    }


def repository_audit(repository: Repository) -> dict[str, Any]:
    """Return the audit snapshot of a repository: its fields and the names of its secrets."""
    return {**snapshot_of(repository), "secrets_set": sorted(name.value for name in repository.secret_names)}


@router.get("/repositories")
def repositories_list(
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    name_contains: NameFilter = "",
) -> dict[str, Any]:
    """List repositories by name."""
    page = list_repositories(session, offset=offset, limit=limit, name_contains=name_contains)
    return page_of(page, repository_json)


@router.post("/repositories", status_code=201)
def repositories_create(
    body: RepositoryCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.write")],
) -> dict[str, Any]:
    """Add a repository, sealing its secrets with the catalog's key."""
    key = request.app.state.context.secret_key
    secrets: dict[SecretName | str, str] = {
        name: value.get_secret_value() for name, value in body.secrets.items()
    }
    with naming_fields(REPOSITORY_FIELDS):
        repository = create_repository(
            session,
            key,
            name=body.name,
            url=body.url,
            options=body.options,
            notes=body.notes,
            max_concurrent_runs=body.max_concurrent_runs,
            secrets=secrets,
            now=now_of(request),
        )
    session.refresh(repository)
    after = repository_audit(repository)
    audit(session, request, principal, "repository.create", "repository", repository.id, after=after)
    session.commit()
    return repository_json(repository)


@router.get("/repositories/{repository_id}")
def repositories_show(
    repository_id: RepositoryId,
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.read")],
) -> dict[str, Any]:
    """Show one repository (which secrets are set, not their values)."""
    return repository_json(get_repository(session, repository_id))


@router.patch("/repositories/{repository_id}")
def repositories_update(
    repository_id: RepositoryId,
    body: RepositoryUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.write")],
) -> dict[str, Any]:
    """Change a repository; set or remove its secrets."""
    key = request.app.state.context.secret_key
    before = repository_audit(get_repository(session, repository_id))
    changes = {
        name: value
        for name, value in changes_of(body, ("secrets", "remove_secrets")).items()
        if value is not None
    }
    with naming_fields(REPOSITORY_FIELDS):
        update_repository(session, repository_id, changes, now=now_of(request))
    for name in body.remove_secrets:
        remove_secret(session, repository_id, name)
    for name, value in body.secrets.items():
        set_secret(session, key, repository_id, name, value.get_secret_value())
    repository = get_repository(session, repository_id)
    session.refresh(repository)
    after = repository_audit(repository)
    audit(session, request, principal, "repository.update", "repository", repository_id, before, after)
    session.commit()
    return repository_json(repository)


@router.delete("/repositories/{repository_id}", status_code=204)
def repositories_delete(
    repository_id: RepositoryId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.write")],
) -> None:
    """Remove a repository no job uses, with its sealed secrets."""
    before = repository_audit(get_repository(session, repository_id))
    delete_repository(session, repository_id)
    audit(session, request, principal, "repository.delete", "repository", repository_id, before=before)
    session.commit()
