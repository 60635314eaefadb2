"""Client servers (list, add, edit, remove) and repositories (list, add, edit; secrets write-only).

Each form is checked by the API's input model and saved by the API's endpoint function, so that the
checks, the audit entries and the permissions are the API's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import inventory as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.catalog.enums import ClientSecretName, SecretName, Transport
from resguardo.catalog.queries import get_client, get_repository, list_clients, list_repositories
from resguardo.web.forms import FormState, checked, optional_int, submit
from resguardo.web.pages import PAGE_SIZE, Fields, form_lists, page, page_offset, render, see_other

router = APIRouter(include_in_schema=False)
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
CLIENT_FIELDS = ("name", "address", "port", "ssh_user", "transport", "notes", "ssh_host_key", "database_url")
CLIENT_SECRETS = tuple(ClientSecretName)
SECRETS = tuple(SecretName)


@router.get("/clients")
def clients_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("clients.read")]
) -> HTMLResponse:
    """List client servers (permission ``clients.read``)."""
    name = request.query_params.get("name", "")[:120]
    listing = list_clients(session, offset=page_offset(request), limit=PAGE_SIZE, name_contains=name)
    return render(request, "clients.html", {"listing": listing, "name": name}, principal)


def _client_values(fields: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: fields.get(name, "") for name in CLIENT_FIELDS}
    values["port"] = optional_int(values["port"]) or 22
    values["transport"] = values["transport"] or Transport.SSH.value
    return values


def _client_form(
    values: dict[str, Any],
    client_id: int | None = None,
    secrets_set: frozenset[ClientSecretName] = frozenset(),
) -> dict[str, Any]:
    return {
        "form": FormState(values),
        "client_id": client_id,
        "transports": list(Transport),
        "secret_names": CLIENT_SECRETS,
        "secrets_set": secrets_set,
    }


@router.get("/clients/new")
def client_new(request: Request, principal: Annotated[Principal, page("clients.write")]) -> HTMLResponse:
    """Show the form of a new client server (permission ``clients.write``)."""
    values = {"port": 22, "transport": Transport.SSH.value}
    return render(request, "client_form.html", _client_form(values), principal)


@router.post("/clients/new")
def client_create(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("clients.write")],
) -> Response:
    """Add a client server as ``POST /api/v1/clients`` does."""
    values = _client_values(fields)

    def save() -> str:
        body = checked(api.ClientCreate, {**values, "secrets": _sent_secrets(fields, CLIENT_SECRETS)})
        api.clients_create(body, request, session, principal)
        return "/clients"

    return submit(request, session, principal, "client_form.html", _client_form(values), save)


@router.get("/clients/{client_id}/edit")
def client_edit(
    client_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("clients.write")],
) -> HTMLResponse:
    """Show the form of a client server."""
    client = get_client(session, client_id)
    values = {name: getattr(client, name) for name in CLIENT_FIELDS}
    values["transport"] = client.transport.value
    return render(
        request, "client_form.html", _client_form(values, client_id, client.secret_names), principal
    )


@router.post("/clients/{client_id}/edit")
def client_update(
    client_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("clients.write")],
) -> Response:
    """Change a client server as ``PATCH /api/v1/clients/{id}`` does."""
    values = _client_values(fields)
    removed = form_lists(request).get("remove_secret", [])
    context = _client_form(values, client_id, get_client(session, client_id).secret_names)

    def save() -> str:
        sent = {**values, "secrets": _sent_secrets(fields, CLIENT_SECRETS), "remove_secrets": removed}
        api.clients_update(client_id, checked(api.ClientUpdate, sent), request, session, principal)
        return "/clients"

    return submit(request, session, principal, "client_form.html", context, save)


@router.post("/clients/{client_id}/delete")
def client_delete(
    client_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("clients.write")],
) -> RedirectResponse:
    """Remove a client server no job uses, as ``DELETE /api/v1/clients/{id}`` does (a job using it: 409)."""
    api.clients_delete(client_id, request, session, principal)
    return see_other("/clients")


@router.get("/repositories")
def repositories_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("repositories.read")]
) -> HTMLResponse:
    """List repositories, with which secrets are set (permission ``repositories.read``)."""
    name = request.query_params.get("name", "")[:120]
    listing = list_repositories(session, offset=page_offset(request), limit=PAGE_SIZE, name_contains=name)
    return render(request, "repositories.html", {"listing": listing, "name": name}, principal)


def _repository_form(
    values: dict[str, Any], repository_id: int | None = None, secrets_set: frozenset[SecretName] = frozenset()
) -> dict[str, Any]:
    return {
        "form": FormState(values),
        "repository_id": repository_id,
        "secret_names": SECRETS,
        "secrets_set": secrets_set,
    }


def _sent_secrets(fields: dict[str, str], names: Iterable[StrEnum] = SECRETS) -> dict[str, str]:
    """Return the secrets typed in the form (empty fields leave a secret as it is)."""
    return {name.value: fields[name.value] for name in names if fields.get(name.value)}


@router.get("/repositories/new")
def repository_new(
    request: Request, principal: Annotated[Principal, page("repositories.write")]
) -> HTMLResponse:
    """Show the form of a new repository (permission ``repositories.write``)."""
    return render(request, "repository_form.html", _repository_form({}), principal)


@router.post("/repositories/new")
def repository_create(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("repositories.write")],
) -> Response:
    """Add a repository, sealing its secrets, as ``POST /api/v1/repositories`` does."""
    values = {name: fields.get(name, "") for name in ("name", "url", "notes")}

    def save() -> str:
        body = checked(api.RepositoryCreate, {**values, "secrets": _sent_secrets(fields)})
        api.repositories_create(body, request, session, principal)
        return "/repositories"

    return submit(request, session, principal, "repository_form.html", _repository_form(values), save)


@router.get("/repositories/{repository_id}/edit")
def repository_edit(
    repository_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("repositories.write")],
) -> HTMLResponse:
    """Show the form of a repository: which secrets are set, never their values."""
    repository = get_repository(session, repository_id)
    values = {"name": repository.name, "url": repository.url, "notes": repository.notes}
    context = _repository_form(values, repository_id, repository.secret_names)
    return render(request, "repository_form.html", context, principal)


@router.post("/repositories/{repository_id}/edit")
def repository_update(
    repository_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("repositories.write")],
) -> Response:
    """Change a repository and set or remove its secrets, as ``PATCH /api/v1/repositories/{id}`` does."""
    values = {name: fields.get(name, "") for name in ("name", "url", "notes")}
    removed = form_lists(request).get("remove_secret", [])
    secrets_set = get_repository(session, repository_id).secret_names
    context = _repository_form(values, repository_id, secrets_set)

    def save() -> str:
        body = checked(
            api.RepositoryUpdate, {**values, "secrets": _sent_secrets(fields), "remove_secrets": removed}
        )
        api.repositories_update(repository_id, body, request, session, principal)
        return "/repositories"

    return submit(request, session, principal, "repository_form.html", context, save)
