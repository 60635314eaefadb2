"""The dashboard: every job's state, last and next run, open failures, bytes per repository, last days."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import Limit, NameFilter, Offset, now_of, page_of
from resguardo.catalog.queries.dashboard import DEFAULT_DAYS, MAX_DAYS, Dashboard, JobLine
from resguardo.jobs.dashboard import dashboard_view

router = APIRouter(prefix="/api/v1", tags=["dashboard"])


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _job_json(line: JobLine) -> dict[str, Any]:
    return {
        "id": line.job_id,
        "name": line.name,
        "paused": line.paused,
        "client": line.client_name,
        "repository": line.repository_name,
        "running": line.scheduling.run_in_progress,
        "last_run": None
        if line.last_run_id is None
        else {
            "id": line.last_run_id,
            "state": line.last_run_state.value if line.last_run_state else None,
            "verification": line.last_run_verification.value if line.last_run_verification else None,
            "at": _moment(line.last_run_at),
        },
        "next_run_at": _moment(line.next_run_at),
        "open_failures": line.open_failures,
    }


def dashboard_json(figures: Dashboard) -> dict[str, Any]:
    """Return the dashboard's figures as JSON."""
    return {
        "jobs": page_of(figures.jobs, _job_json),
        "open_failures": figures.open_failures,
        "jobs_with_open_failures": figures.jobs_with_open_failures,
        "runs_by_state": figures.runs_by_state,
        "repositories": [
            {
                "id": item.repository_id,
                "name": item.name,
                "bytes_read": item.bytes_read,
                "bytes_added": item.bytes_added,
                "runs": item.runs,
            }
            for item in figures.repositories
        ],
        "days": [
            {
                "day": item.day.isoformat(),
                "runs": item.runs,
                "succeeded": item.succeeded,
                "partial": item.partial,
                "failed": item.failed,
                "bytes_read": item.bytes_read,
                "bytes_added": item.bytes_added,
            }
            for item in figures.days
        ],
    }


@router.get("/dashboard")
def dashboard_show(  # noqa: PLR0917 (each filter is a query parameter)
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("dashboard.read")],
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="how many days of figures")] = DEFAULT_DAYS,
    limit: Limit = 50,
    offset: Offset = 0,
    name_contains: NameFilter = "",
    open_failures_only: Annotated[bool, Query(description="only jobs with an open failure")] = False,
) -> dict[str, Any]:
    """Return a page of jobs (by name) with their state, last and next run and open failures; the runs
    and bytes of each of the last ``days`` UTC days (today last) and per repository over those days."""
    figures = dashboard_view(
        session,
        now_of(request),
        days,
        offset=offset,
        limit=limit,
        name_contains=name_contains,
        open_failures_only=open_failures_only,
    )
    return dashboard_json(figures)
