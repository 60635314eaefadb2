"""The audit log, read-only, with filters (permission ``audit.read``, as ``GET /api/v1/audit``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from resguardo.api.auth import CatalogSession, Principal
from resguardo.catalog.queries import list_audit
from resguardo.web.pages import PAGE_SIZE, page, page_offset, render

router = APIRouter(include_in_schema=False)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/audit")
def audit_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("audit.read")]
) -> HTMLResponse:
    """List audit entries, newest first, by object type and ID, actor, and days (UTC, both included)."""
    query = request.query_params
    object_type = query.get("object_type", "")[:32] or None
    object_id = query.get("object_id", "")[:64] or None
    actor = query.get("actor_id", "")
    actor_id = int(actor) if actor.isdigit() and 0 < int(actor) < 2**31 else None
    since, until = _day(query.get("since", "")), _day(query.get("until", ""))
    listing = list_audit(
        session,
        offset=page_offset(request),
        limit=PAGE_SIZE,
        object_type=object_type,
        object_id=object_id,
        actor_id=actor_id,
        since=datetime.combine(since, time(0), tzinfo=UTC) if since else None,
        until=datetime.combine(until, time(0), tzinfo=UTC) + timedelta(days=1) if until else None,
    )
    filters = {
        "object_type": object_type or "",
        "object_id": object_id or "",
        "actor_id": actor_id or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return render(request, "audit.html", {"listing": listing, "filters": filters}, principal)
