"""Runs (list, show, cancel a queued one) and the failure log (list, show, record the analysis)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    IdFilter,
    Input,
    Limit,
    Offset,
    Text,
    audit,
    now_of,
    page_of,
)
from resguardo.catalog.enums import RunState, Verification
from resguardo.catalog.models import FailureEntry, Run
from resguardo.catalog.queries import (
    cancel_run,
    get_run,
    list_failures,
    list_runs,
    record_analysis,
    snapshot_of,
)
from resguardo.catalog.queries._common import get_or_raise

router = APIRouter(prefix="/api/v1", tags=["runs"])
RunId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
FailureId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_json(run: Run) -> dict[str, Any]:
    """Return a run as JSON."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "state": run.state.value,
        "trigger": run.trigger.value,
        "attempt": run.attempt,
        "retry_of_id": run.retry_of_id,
        "queued_at": _moment(run.queued_at),
        "not_before": _moment(run.not_before),
        "started_at": _moment(run.started_at),
        "finished_at": _moment(run.finished_at),
        "heartbeat_at": _moment(run.heartbeat_at),
        "worker_id": run.worker_id,
        "bytes_read": run.bytes_read,
        "bytes_added": run.bytes_added,
        "files": run.files,
        "snapshot_id": run.snapshot_id,
        "error": run.error,
        "verification": run.verification.value,
        "verification_reasons": run.verification_reasons or [],
    }


@router.get("/runs")
def runs_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("runs.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    job_id: IdFilter = None,
    state: Annotated[RunState | None, Query()] = None,
    verification: Annotated[Verification | None, Query()] = None,
) -> dict[str, Any]:
    """List runs, newest first, of one job, in one state, or with one verification verdict."""
    page = list_runs(
        session, offset=offset, limit=limit, job_id=job_id, state=state, verification=verification
    )
    return page_of(page, run_json)


@router.get("/runs/{run_id}")
def runs_show(
    run_id: RunId, session: CatalogSession, principal: Annotated[Principal, allow("runs.read")]
) -> dict[str, Any]:
    """Show one run, with its log and the figures its verification recorded."""
    run = get_run(session, run_id)
    return {**run_json(run), "log": run.log, "verification_figures": run.verification_figures}


@router.post("/runs/{run_id}/cancel")
def runs_cancel(
    run_id: RunId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("runs.cancel")],
) -> dict[str, Any]:
    """Cancel a queued run (409 when it is not queued)."""
    before = snapshot_of(get_run(session, run_id))
    run = cancel_run(session, run_id, now_of(request))
    audit(session, request, principal, "run.cancel", "run", run_id, before, snapshot_of(run))
    session.commit()
    return run_json(run)


class FailureUpdate(Input):
    """The analysis of a failure (R18): its cause, the analysis and the corrective action taken."""

    cause: Text | None = None
    analysis: Text | None = None
    corrective_action: Text | None = None


def failure_json(entry: FailureEntry) -> dict[str, Any]:
    """Return a failure-log entry as JSON."""
    return {
        "id": entry.id,
        "job_id": entry.job_id,
        "run_id": entry.run_id,
        "opened_at": _moment(entry.opened_at),
        "error": entry.error,
        "cause": entry.cause,
        "analysis": entry.analysis,
        "corrective_action": entry.corrective_action,
        "recorded_by_id": entry.recorded_by_id,
        "recorded_at": _moment(entry.recorded_at),
        "closed_by_run_id": entry.closed_by_run_id,
        "closed_at": _moment(entry.closed_at),
    }


@router.get("/failures")
def failures_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("failures.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    job_id: IdFilter = None,
    open_only: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """List failure-log entries, newest first, of one job or only the open ones."""
    page = list_failures(session, offset=offset, limit=limit, job_id=job_id, open_only=open_only)
    return page_of(page, failure_json)


@router.get("/failures/{failure_id}")
def failures_show(
    failure_id: FailureId, session: CatalogSession, principal: Annotated[Principal, allow("failures.read")]
) -> dict[str, Any]:
    """Show one failure-log entry."""
    return failure_json(get_or_raise(session, FailureEntry, failure_id, "failure entry"))


@router.patch("/failures/{failure_id}")
def failures_update(
    failure_id: FailureId,
    body: FailureUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("failures.write")],
) -> dict[str, Any]:
    """Record the cause, analysis and corrective action of a failure, signed by the caller."""
    before = snapshot_of(get_or_raise(session, FailureEntry, failure_id, "failure entry"))
    entry = record_analysis(
        session,
        failure_id,
        who_id=principal.user.id,
        now=now_of(request),
        cause=body.cause,
        analysis=body.analysis,
        corrective_action=body.corrective_action,
    )
    audit(session, request, principal, "failure.update", "failure", failure_id, before, snapshot_of(entry))
    session.commit()
    return failure_json(entry)
