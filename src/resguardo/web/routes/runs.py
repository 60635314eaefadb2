"""Runs (list with filters; a run's page with live progress and its log) and the failure log (list,
record the cause, analysis and corrective action)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import runs as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.catalog.enums import RunState, Verification
from resguardo.catalog.models import FailureEntry, Job, User
from resguardo.catalog.queries import get_run, list_failures, list_runs
from resguardo.catalog.queries._common import get_or_raise
from resguardo.web.forms import FormState, checked, submit
from resguardo.web.pages import PAGE_SIZE, Fields, page, page_offset, render

router = APIRouter(include_in_schema=False)
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
POLL_SECONDS = 2


def _id_filter(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) < DATABASE_INTEGER_MAX else None


def job_names(session: Session, job_ids: set[int]) -> dict[int, str]:
    """Return the names of the jobs ``job_ids`` (one query)."""
    if not job_ids:
        return {}
    rows = session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids)))
    return {job_id: name for job_id, name in rows}


@router.get("/runs")
def runs_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("runs.read")]
) -> HTMLResponse:
    """List runs, newest first, filtered by job, state and verification (permission ``runs.read``)."""
    job_id = _id_filter(request, "job_id")
    state_text = request.query_params.get("state", "")
    state = RunState(state_text) if state_text in set(RunState) else None
    verification_text = request.query_params.get("verification", "")
    verification = Verification(verification_text) if verification_text in set(Verification) else None
    listing = list_runs(
        session,
        offset=page_offset(request),
        limit=PAGE_SIZE,
        job_id=job_id,
        state=state,
        verification=verification,
    )
    context = {
        "listing": listing,
        "names": job_names(session, {run.job_id for run in listing.items}),
        "jobs": session.execute(select(Job.id, Job.name).order_by(Job.name).limit(500)).all(),
        "job_id": job_id,
        "state": state.value if state else "",
        "states": list(RunState),
        "verification": verification.value if verification else "",
        "verifications": list(Verification),
    }
    return render(request, "runs.html", context, principal)


def _run_context(session: Session, run_id: int) -> dict[str, Any]:
    run = get_run(session, run_id)
    return {
        "run": run,
        "job_name": job_names(session, {run.job_id}).get(run.job_id, ""),
        "poll": POLL_SECONDS,
    }


@router.get("/runs/{run_id}")
def run_page(
    run_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("runs.read")],
) -> HTMLResponse:
    """Show a run: its state and progress (polled every 2 s while queued or running) and its log."""
    return render(request, "run.html", _run_context(session, run_id), principal)


@router.get("/runs/{run_id}/status")
def run_status(
    run_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("runs.read")],
) -> HTMLResponse:
    """Return the fragment of a run's state, progress and log; it stops polling once the run ended."""
    return render(request, "_run_status.html", _run_context(session, run_id), principal)


def user_names(session: Session, user_ids: set[int]) -> dict[int, str]:
    """Return the usernames of ``user_ids`` (one query)."""
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


@router.get("/failures")
def failures_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("failures.read")]
) -> HTMLResponse:
    """List the failure log, newest first, the open entries only on request (permission ``failures.read``)."""
    open_only = request.query_params.get("open_only") == "on"
    job_id = _id_filter(request, "job_id")
    listing = list_failures(
        session, offset=page_offset(request), limit=PAGE_SIZE, job_id=job_id, open_only=open_only
    )
    context = {
        "listing": listing,
        "open_only": open_only,
        "names": job_names(session, {entry.job_id for entry in listing.items}),
        "people": user_names(
            session, {entry.recorded_by_id for entry in listing.items if entry.recorded_by_id}
        ),
    }
    return render(request, "failures.html", context, principal)


def _failure_context(session: Session, entry: FailureEntry, values: dict[str, Any]) -> dict[str, Any]:
    people = user_names(session, {entry.recorded_by_id} if entry.recorded_by_id else set())
    return {
        "entry": entry,
        "job_name": job_names(session, {entry.job_id}).get(entry.job_id, ""),
        "recorded_by": people.get(entry.recorded_by_id or 0, ""),
        "form": FormState(values),
    }


@router.get("/failures/{failure_id}")
def failure_page(
    failure_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("failures.read")],
) -> HTMLResponse:
    """Show a failure entry, and its analysis form to those who may write it."""
    entry = get_or_raise(session, FailureEntry, failure_id, "failure entry")
    values = {name: getattr(entry, name) for name in ("cause", "analysis", "corrective_action")}
    return render(request, "failure.html", _failure_context(session, entry, values), principal)


@router.post("/failures/{failure_id}")
def failure_update(
    failure_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("failures.write")],
) -> Response:
    """Record the cause, analysis and corrective action, signed by the caller, as
    ``PATCH /api/v1/failures/{id}`` does."""
    entry = get_or_raise(session, FailureEntry, failure_id, "failure entry")
    values = {name: fields.get(name, "") for name in ("cause", "analysis", "corrective_action")}
    context = _failure_context(session, entry, values)

    def save() -> str:
        api.failures_update(failure_id, checked(api.FailureUpdate, values), request, session, principal)
        return f"/failures/{failure_id}"

    return submit(request, session, principal, "failure.html", context, save)
