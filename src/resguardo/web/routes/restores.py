"""Restores in the console: the restore form of a run (its snapshot's databases or paths, the target,
overwrite confirmed, the reason), a restore's page with live state and log, and the list of restores.

The form is checked by the API's input model and carried out by the API's own endpoint
(``POST /api/v1/restores``): same permission, same checks, same audit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import restores as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX, now_of
from resguardo.catalog.enums import RestoreKind, RestoreState
from resguardo.catalog.models import Client
from resguardo.catalog.queries import get_job, get_restore, get_run, list_restores
from resguardo.core.errors import ResguardoError
from resguardo.services.restores import RESTORED_SUFFIX, snapshot_contents
from resguardo.web.forms import FormInvalid, FormState, checked, flag, submit
from resguardo.web.i18n import gettext
from resguardo.web.pages import PAGE_SIZE, Fields, form_lists, page, page_offset, render, see_other
from resguardo.web.routes.runs import POLL_SECONDS, job_names, user_names

router = APIRouter(include_in_schema=False)
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]


def _contents(request: Request, session: Session, run_id: int) -> tuple[dict[str, Any] | None, str]:
    """Return what the run's snapshot holds (None and the reason when it cannot be read)."""
    run = get_run(session, run_id)
    if not run.snapshot_id:
        return None, gettext("This run saved no snapshot: there is nothing to restore from it.")
    try:
        return snapshot_contents(session, request.app.state.context.secret_key, run_id, now_of(request)), ""
    except ResguardoError as error:
        session.rollback()
        lead = gettext("The snapshot cannot be read:")
        return None, f"{lead} {error.message}"


def _form_context(request: Request, session: Session, run_id: int, values: dict[str, Any]) -> dict[str, Any]:
    contents, problem = _contents(request, session, run_id)
    run = get_run(session, run_id)
    clients = session.execute(
        select(Client.id, Client.name).where(Client.database_url != "").order_by(Client.name).limit(500)
    ).all()
    if contents is not None:
        for item in contents["databases"]:
            values.setdefault(f"name-{item['database']}", item["database"] + RESTORED_SUFFIX)
    return {
        "run": run,
        "job_name": job_names(session, {run.job_id}).get(run.job_id, ""),
        "contents": contents,
        "problem": problem,
        "clients": [(str(client_id), name) for client_id, name in clients],
        "form": FormState(values),
        "chosen": set(values.get("items", [])),
    }


@router.get("/runs/{run_id}/restore")
def restore_form(
    run_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("restores.start")],
) -> HTMLResponse:
    """Show the restore form of a run: its snapshot's databases (or paths) and the target."""
    client_id = get_job(session, get_run(session, run_id).job_id).client_id
    values: dict[str, Any] = {"client_id": str(client_id), "items": []}
    return render(request, "restore_form.html", _form_context(request, session, run_id, values), principal)


def _body(
    run_id: int, fields: dict[str, str], items: list[str], contents: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the API request body of a posted restore form.

    Raises:
        FormInvalid: overwrite ticked without its confirmation.
    """
    if flag(fields, "overwrite") and not flag(fields, "overwrite_confirmed"):
        raise FormInvalid({"overwrite": gettext("Confirm that what exists at the target will be replaced.")})
    paths = contents is not None and not contents["databases"]
    target: dict[str, Any] = {}
    if paths:
        target["folder"] = fields.get("folder", "").strip() or None
    else:
        target["databases"] = {item: fields.get(f"name-{item}", "").strip() for item in items}
        if fields.get("client_id", "").isdigit():
            target["client_id"] = int(fields["client_id"])
        if fields.get("sqlite_path", "").strip():
            target["sqlite_path"] = fields["sqlite_path"].strip()
    return {
        "run_id": run_id,
        "kind": (RestoreKind.PATHS if paths else RestoreKind.DATABASE).value,
        "items": items,
        "target": target,
        "overwrite": flag(fields, "overwrite"),
        "reason": fields.get("reason", ""),
    }


@router.post("/runs/{run_id}/restore")
def restore_start(
    run_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("restores.start")],
) -> Response:
    """Queue the restore the form describes, as ``POST /api/v1/restores`` does, and show its page."""
    items = form_lists(request).get("items", [])
    values: dict[str, Any] = {**fields, "items": items}
    context = _form_context(request, session, run_id, values)

    def save() -> str:
        body = checked(api.RestoreBody, _body(run_id, fields, items, context["contents"]))
        started = api.restores_start(body, request, session, principal)
        return f"/restores/{started['id']}"

    return submit(request, session, principal, "restore_form.html", context, save)


@router.get("/restores")
def restores_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("restores.read")]
) -> HTMLResponse:
    """List restores, newest first, filtered by state (permission ``restores.read``)."""
    state_text = request.query_params.get("state", "")
    state = RestoreState(state_text) if state_text in set(RestoreState) else None
    listing = list_restores(session, offset=page_offset(request), limit=PAGE_SIZE, state=state)
    context = {
        "listing": listing,
        "names": job_names(session, {item.job_id for item in listing.items if item.job_id}),
        "state": state.value if state else "",
        "states": list(RestoreState),
    }
    return render(request, "restores.html", context, principal)


def _restore_context(session: Session, restore_id: int) -> dict[str, Any]:
    restore = get_restore(session, restore_id)
    requested = {restore.requested_by_id} if restore.requested_by_id else set()
    return {
        "restore": restore,
        "job_name": job_names(session, {restore.job_id} if restore.job_id else set()).get(
            restore.job_id or 0, ""
        ),
        "requested_by": user_names(session, requested).get(restore.requested_by_id or 0, ""),
        "poll": POLL_SECONDS,
    }


@router.get("/restores/{restore_id}")
def restore_page(
    restore_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("restores.read")],
) -> HTMLResponse:
    """Show a restore: its state and bytes restored (polled while queued or running) and its log."""
    return render(request, "restore.html", _restore_context(session, restore_id), principal)


@router.get("/restores/{restore_id}/status")
def restore_status(
    restore_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("restores.read")],
) -> HTMLResponse:
    """Return the fragment of a restore's state, progress and log; it stops polling once it ended."""
    return render(request, "_restore_status.html", _restore_context(session, restore_id), principal)


@router.post("/restores/{restore_id}/cancel")
def restore_cancel(
    restore_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("restores.cancel")],
) -> Response:
    """Cancel a queued or running restore, as ``POST /api/v1/restores/{id}/cancel`` does."""
    api.restores_cancel(restore_id, request, session, principal)
    return see_other(f"/restores/{restore_id}")


@router.post("/restores/{restore_id}/retry")
def restore_retry(
    restore_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("restores.start")],
) -> Response:
    """Queue a failed or cancelled restore again, as ``POST /api/v1/restores/{id}/retry`` does; with
    the form's ``from_copy`` ticked (the "Restore from the copy" button), from the copy it offers."""
    body = api.RetryBody(from_copy=flag(fields, "from_copy"))
    again = api.restores_retry(restore_id, request, session, principal, body)
    return see_other(f"/restores/{again['id']}")
