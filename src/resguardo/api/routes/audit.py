"""The audit log, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import IdFilter, Limit, Offset, page_of
from resguardo.catalog.models import AuditEntry
from resguardo.catalog.queries import list_audit

router = APIRouter(prefix="/api/v1", tags=["audit"])


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    """Return an audit entry as JSON."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "before": entry.before,
        "after": entry.after,
    }


@router.get("/audit")
def audit_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("audit.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: IdFilter = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> dict[str, Any]:
    """List audit entries, newest first, by object, actor or time (``since``/``until`` need a zone)."""
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            from resguardo.api.errors import ApiError

            raise ApiError(422, "since and until need a time zone (e.g. 2026-03-01T00:00:00Z)")
    page = list_audit(
        session,
        offset=offset,
        limit=limit,
        object_type=object_type,
        object_id=object_id,
        actor_id=actor_id,
        since=since,
        until=until,
    )
    return page_of(page, audit_json)
