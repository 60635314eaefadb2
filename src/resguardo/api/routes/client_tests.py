"""The connectivity and feasibility test of a client: run it (stored as the client's last), read it back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import Field

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import DATABASE_INTEGER_MAX, Input, audit, now_of
from resguardo.catalog.queries import get_client, last_client_test
from resguardo.core.errors import NotFound
from resguardo.services.connectivity import ConnectivityRequest, run_client_test, stored_document

router = APIRouter(prefix="/api/v1", tags=["inventory"])
ClientId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
RecordId = Annotated[int, Field(ge=1, le=DATABASE_INTEGER_MAX)]
PathText = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]
DatabaseName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]*$")]


class ClientTestBody(Input):
    """What to test: paths, databases, and the repository (or a job giving all three)."""

    paths: list[PathText] = Field(default_factory=list, max_length=100)
    databases: list[DatabaseName] = Field(default_factory=list, max_length=100)
    repository_id: RecordId | None = None
    job_id: RecordId | None = None


@router.post("/clients/{client_id}/test")
def clients_test(
    client_id: ClientId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("clients.test")],
    body: ClientTestBody | None = None,
) -> dict[str, Any]:
    """Run the connectivity and feasibility test of a client and keep its report as the last one."""
    given = body or ClientTestBody()
    wanted = ConnectivityRequest(given.paths, given.databases, given.repository_id, given.job_id)
    key = request.app.state.context.secret_key
    document = run_client_test(
        session, key, client_id, wanted, now=now_of(request), tested_by=principal.user.username
    )
    summary = document["summary"]
    audit(session, request, principal, "client.test", "client", client_id, after={"summary": summary})
    session.commit()
    return document


@router.get("/clients/{client_id}/test")
def clients_last_test(
    client_id: ClientId, session: CatalogSession, principal: Annotated[Principal, allow("clients.read")]
) -> dict[str, Any]:
    """Return the last connectivity test of a client (404 when it was never tested)."""
    stored = last_client_test(session, client_id)
    if stored is None:
        name = get_client(session, client_id).name
        raise NotFound(
            f"client {name!r} was never tested", f"run the test: POST /api/v1/clients/{client_id}/test"
        )
    return stored_document(stored.report, stored.tested_at, stored.tested_by)
