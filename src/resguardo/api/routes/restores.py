"""Restores: what a run's snapshot holds, start a restore of its databases or paths, follow, cancel it.

A restore is checked when it is asked for (the items are in the snapshot, the target is given and,
without ``overwrite``, does not exist yet: 409 otherwise), queued (202), and carried out by a worker
(:mod:`resguardo.services.restore_run`). Every start and cancel is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    Identifier,
    IdFilter,
    Input,
    Limit,
    Offset,
    Text,
    audit,
    now_of,
    page_of,
)
from resguardo.catalog.enums import RestoreKind, RestoreState
from resguardo.catalog.models import Restore
from resguardo.catalog.queries import (
    cancel_restore,
    get_restore,
    list_restores,
    requeue_restore,
    snapshot_of,
)
from resguardo.services.restores import (
    RestoreOrder,
    field_error,
    request_restore,
    snapshot_contents,
    snapshot_locations,
)

router = APIRouter(prefix="/api/v1", tags=["restores"])
RestoreId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
RunId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
PathText = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]
DatabaseName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00/]*$")]
Item = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]


class RestoreTargetBody(Input):
    """Where a restore goes: a client's database server (with target names), a SQLite file, or a folder."""

    client_id: Identifier | None = None
    database: DatabaseName | None = None
    databases: dict[DatabaseName, DatabaseName] = Field(default_factory=dict, max_length=100)
    sqlite_path: PathText | None = None
    folder: PathText | None = None


class RestoreBody(Input):
    """A restore of a run's snapshot: what (kind, items), where (target), overwrite, and why."""

    run_id: Identifier
    kind: RestoreKind = RestoreKind.DATABASE
    items: list[Item] = Field(min_length=1, max_length=100)
    target: RestoreTargetBody
    overwrite: bool = False
    reason: Text = ""
    repository_id: Identifier | None = None


class RetryBody(Input):
    """How to queue a failed restore again: ``from_copy`` reads the intact copy it offers instead."""

    from_copy: bool = False


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def restore_json(restore: Restore) -> dict[str, Any]:
    """Return a restore as JSON (without its log)."""
    return {
        "id": restore.id,
        "run_id": restore.run_id,
        "job_id": restore.job_id,
        "repository_id": restore.repository_id,
        "snapshot_id": restore.snapshot_id,
        "kind": restore.kind.value,
        "items": list(restore.items or []),
        "target": dict(restore.target or {}),
        "overwrite": restore.overwrite,
        "state": restore.state.value,
        "requested_by_id": restore.requested_by_id,
        "reason": restore.reason,
        "request_id": restore.request_id,
        "queued_at": _moment(restore.queued_at),
        "started_at": _moment(restore.started_at),
        "finished_at": _moment(restore.finished_at),
        "worker_id": restore.worker_id,
        "heartbeat_at": _moment(restore.heartbeat_at),
        "bytes_restored": restore.bytes_restored,
        "error": restore.error,
        "alternative": restore.alternative,
    }


def order_of(body: RestoreBody, principal: Principal) -> RestoreOrder:
    """Return the service's order for a request body.

    Raises:
        UsageError: ``target.database`` with more than one item (names the field).
    """
    target = body.target
    databases = dict(target.databases)
    if target.database is not None:
        if len(body.items) != 1:
            raise field_error(
                "target.database names the copy of one database; several were chosen",
                "use target.databases to name each one",
                "target.database",
            )
        databases[body.items[0]] = target.database
    return RestoreOrder(
        run_id=body.run_id,
        kind=body.kind,
        items=list(dict.fromkeys(body.items)),
        client_id=target.client_id,
        databases=databases,
        sqlite_path=target.sqlite_path,
        folder=target.folder,
        overwrite=body.overwrite,
        reason=body.reason,
        requested_by_id=principal.user.id,
        repository_id=body.repository_id,
    )


@router.get("/runs/{run_id}/contents")
def runs_contents(
    run_id: RunId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("restores.read")],
) -> dict[str, Any]:
    """List what a run's snapshot holds to restore: its databases (name, kind, size) or top-level paths.

    It opens the repository; 422 naming ``run_id`` when the run saved no snapshot.
    """
    key = request.app.state.context.secret_key
    return snapshot_contents(session, key, run_id, now_of(request))


@router.get("/runs/{run_id}/copies")
def runs_copies(
    run_id: RunId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("restores.read")],
) -> dict[str, Any]:
    """List the repositories that hold a run's snapshot: the run's own first, then each copy made by
    ``resguardo copy`` (each repository is opened; one that cannot be is named in ``notes``).

    422 naming ``run_id`` when the run saved no snapshot.
    """
    key = request.app.state.context.secret_key
    return snapshot_locations(session, key, run_id, now_of(request))


@router.post("/restores", status_code=202)
def restores_start(
    body: RestoreBody,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("restores.start")],
) -> dict[str, Any]:
    """Queue a restore of a run's databases or paths (202); a worker carries it out.

    422 names the field at fault (an item not in the snapshot, a run without snapshot, a missing
    target); 409 when the target exists and ``overwrite`` is false.
    """
    key = request.app.state.context.secret_key
    restore = request_restore(session, key, order_of(body, principal), now_of(request))
    audit(session, request, principal, "restore.start", "restore", restore.id, after=snapshot_of(restore))
    session.commit()
    return restore_json(restore)


@router.get("/restores")
def restores_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("restores.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    job_id: IdFilter = None,
    state: Annotated[RestoreState | None, Query()] = None,
) -> dict[str, Any]:
    """List restores, newest first, of one job or in one state."""
    page = list_restores(session, offset=offset, limit=limit, job_id=job_id, state=state)
    return page_of(page, restore_json)


@router.get("/restores/{restore_id}")
def restores_show(
    restore_id: RestoreId, session: CatalogSession, principal: Annotated[Principal, allow("restores.read")]
) -> dict[str, Any]:
    """Show one restore with its progress (bytes restored) and its log."""
    restore = get_restore(session, restore_id)
    return {**restore_json(restore), "log": restore.log}


@router.post("/restores/{restore_id}/cancel")
def restores_cancel(
    restore_id: RestoreId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("restores.cancel")],
) -> dict[str, Any]:
    """Cancel a queued restore, or stop a running one at its worker's next heartbeat (409 once ended)."""
    before = snapshot_of(get_restore(session, restore_id))
    restore = cancel_restore(session, restore_id, now_of(request))
    audit(session, request, principal, "restore.cancel", "restore", restore_id, before, snapshot_of(restore))
    session.commit()
    return restore_json(restore)


@router.post("/restores/{restore_id}/retry", status_code=202)
def restores_retry(
    restore_id: RestoreId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("restores.start")],
    body: RetryBody | None = None,
) -> dict[str, Any]:
    """Queue a failed or cancelled restore again, as a new restore (202; 409 for any other state).

    With ``{"from_copy": true}`` the new restore reads the intact copy the failed one offers (its
    ``alternative``): 409 when it offers none.
    """
    from_copy = body is not None and body.from_copy
    now = now_of(request)
    restore = requeue_restore(session, restore_id, now, principal.user.id, from_copy=from_copy)
    after = {**snapshot_of(restore), "retry_of": restore_id, "from_copy": from_copy}
    audit(session, request, principal, "restore.retry", "restore", restore.id, after=after)
    session.commit()
    return restore_json(restore)
