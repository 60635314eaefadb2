"""A client's page: its settings, which secrets are set, its last connectivity test and the button
that runs one (saved by the API's endpoint function, so the checks, audit and permissions are the API's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import client_tests as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.catalog.queries import client_secret_names, get_client, last_client_test
from resguardo.web.forms import checked
from resguardo.web.i18n import mark
from resguardo.web.pages import Fields, page, render, see_other

router = APIRouter(include_in_schema=False)
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
CHECKS = {
    "name resolves": mark("name resolves"),
    "port open": mark("port open"),
    "host key known": mark("host key known"),
    "host key matches": mark("host key matches"),
    "SSH authentication": mark("SSH authentication"),
    "SSH connection": mark("SSH connection"),
    "SFTP available": mark("SFTP available"),
    "path exists": mark("path exists"),
    "path readable": mark("path readable"),
    "estimated size": mark("estimated size"),
    "database server reachable": mark("database server reachable"),
    "database exists": mark("database exists"),
    "dump tools": mark("dump tools"),
    "database account": mark("database account"),
    "free space": mark("free space"),
    "what to back up": mark("what to back up"),
}
STATUSES = {
    "ok": mark("ok"),
    "warning": mark("warning"),
    "failed": mark("failed"),
    "skipped": mark("skipped"),
}


@router.get("/clients/{client_id}")
def client_page(
    client_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("clients.read")],
) -> HTMLResponse:
    """Show a client, its secrets set (names only) and its last test (permission ``clients.read``)."""
    client = get_client(session, client_id)
    stored = last_client_test(session, client_id)
    context = {
        "client": client,
        "secrets_set": client_secret_names(client),
        "test": stored.report if stored else None,
        "tested_at": stored.tested_at if stored else None,
        "tested_by": stored.tested_by if stored else "",
        "checks": CHECKS,
        "statuses": STATUSES,
    }
    return render(request, "client.html", context, principal)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.post("/clients/{client_id}/test")
def client_test(
    client_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("clients.test")],
) -> RedirectResponse:
    """Run the connectivity test on the paths and databases typed (one a line), as
    ``POST /api/v1/clients/{id}/test`` does; then show the client's page with the report."""
    values = {"paths": _lines(fields.get("paths", "")), "databases": _lines(fields.get("databases", ""))}
    api.clients_test(client_id, request, session, principal, checked(api.ClientTestBody, values))
    return see_other(f"/clients/{client_id}")
