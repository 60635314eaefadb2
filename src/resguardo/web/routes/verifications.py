"""Periodic verification in the console: the register (filters, CSV export), one verification with its
evidence, a repository's and a job's verification pages (history, next due, "verify now"). Each page
checks the permission of its API endpoint, and "verify now" is saved by the API's endpoint function (the
same checks and audit)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import verifications as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX, now_of
from resguardo.catalog.enums import VerificationKind, VerificationState
from resguardo.catalog.models import Job, Repository
from resguardo.catalog.queries import (
    VerificationFilter,
    get_job,
    get_repository,
    get_verification,
    list_verifications,
)
from resguardo.core.errors import UsageError
from resguardo.jobs.verification_documents import job_restore_test_json, repository_verification_json
from resguardo.web.forms import FormInvalid, FormState, checked
from resguardo.web.pages import PAGE_SIZE, Fields, page, page_offset, render, see_other
from resguardo.web.routes.runs import job_names
from resguardo.web.schedules import schedule_text

router = APIRouter(include_in_schema=False)
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
HISTORY = 20


def _number(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) < DATABASE_INTEGER_MAX else None


def _choice(request: Request, name: str, allowed: type[VerificationKind] | type[VerificationState]) -> str:
    value = request.query_params.get(name, "")
    return value if value in {member.value for member in allowed} else ""


def _names(session: Session) -> dict[str, Any]:
    return {
        "repositories": session.execute(
            select(Repository.id, Repository.name).order_by(Repository.name)
        ).all(),
        "jobs": session.execute(select(Job.id, Job.name).order_by(Job.name).limit(500)).all(),
    }


@router.get("/verifications")
def verifications_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("verifications.read")]
) -> HTMLResponse:
    """Show the register, newest first, filtered by kind, state, repository and job, with its CSV export."""
    kind, state = _choice(request, "kind", VerificationKind), _choice(request, "state", VerificationState)
    repository_id, job_id = _number(request, "repository_id"), _number(request, "job_id")
    chosen = VerificationFilter(
        VerificationKind(kind) if kind else None,
        repository_id,
        job_id,
        VerificationState(state) if state else None,
    )
    listing = list_verifications(session, chosen, page_offset(request), PAGE_SIZE)
    query = {"kind": kind, "state": state, "repository_id": repository_id or "", "job_id": job_id or ""}
    filled = {name: value for name, value in query.items() if value}
    context = {
        "listing": listing,
        "job_names": job_names(session, {item.job_id for item in listing.items if item.job_id}),
        "filters": query,
        "kinds": list(VerificationKind),
        "states": list(VerificationState),
        "csv_url": "/api/v1/verifications.csv" + ("?" + urlencode(filled) if filled else ""),
        "pager_base": "/verifications?" + (urlencode(filled) + "&" if filled else ""),
        **_names(session),
    }
    return render(request, "verifications.html", context, principal)


@router.get("/verifications/{verification_id}")
def verification_page(
    verification_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("verifications.read")],
) -> HTMLResponse:
    """Show one verification with its evidence."""
    record = get_verification(session, verification_id)
    context = {
        "record": record,
        "job_name": job_names(session, {record.job_id}).get(record.job_id, "") if record.job_id else "",
        "repository_name": get_repository(session, record.repository_id).name,
        "evidence": json.dumps(record.evidence or {}, indent=2, sort_keys=True, ensure_ascii=False),
    }
    return render(request, "verification.html", context, principal)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _history(session: Session, chosen: VerificationFilter) -> list[Any]:
    return list_verifications(session, chosen, 0, HISTORY).items


def repository_context(
    session: Session, request: Request, repository_id: int, form: FormState | None = None
) -> dict[str, Any]:
    """Return the context of a repository's scrubs page; its form shows the stored settings unless
    ``form`` (a form sent back) is given."""
    record = get_repository(session, repository_id)
    settings = repository_verification_json(record, now_of(request))
    values = {
        "schedule": schedule_text(settings["schedule"]),
        "scrub_period_days": settings["scrub_period_days"],
    }
    return {
        "subject": record.name,
        "subject_field": "repository_id",
        "subject_id": record.id,
        "settings": settings,
        "next_due": _moment(settings["next_due"]),
        "history": _history(
            session, VerificationFilter(kind=VerificationKind.SCRUB, repository_id=record.id)
        ),
        "is_job": False,
        "form": form or FormState(values),
        "action": f"/repositories/{record.id}/verification",
        "write_permission": "repositories.write",
    }


def job_context(
    session: Session, request: Request, job_id: int, form: FormState | None = None
) -> dict[str, Any]:
    """Return the context of a job's restore tests page (see :func:`repository_context`)."""
    job = get_job(session, job_id)
    settings = job_restore_test_json(job, now_of(request))
    values = {"schedule": schedule_text(settings["schedule"]), "sample_files": settings["sample_files"]}
    return {
        "subject": job.name,
        "subject_field": "job_id",
        "subject_id": job.id,
        "settings": settings,
        "next_due": _moment(settings["next_due"]),
        "history": _history(session, VerificationFilter(job_id=job.id)),
        "is_job": True,
        "form": form or FormState(values),
        "action": f"/jobs/{job.id}/verification",
        "write_permission": "jobs.write",
    }


@router.get("/repositories/{repository_id}/verification")
def repository_verification_page(
    repository_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("verifications.read")],
) -> HTMLResponse:
    """Show a repository's scrubs: settings (a form for operators), cycle progress, next scrub, history,
    and "verify now"."""
    context = repository_context(session, request, repository_id)
    return render(request, "verification_subject.html", context, principal)


@router.get("/jobs/{job_id}/verification")
def job_verification_page(
    job_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("verifications.read")],
) -> HTMLResponse:
    """Show a job's restore tests: settings (a form for operators), next test, history, and "verify now"."""
    return render(request, "verification_subject.html", job_context(session, request, job_id), principal)


@router.post("/verifications/new")
def verification_request(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("verifications.run")],
) -> RedirectResponse:
    """Queue a scrub or restore test now, as ``POST /api/v1/verifications`` does; then show its page."""
    values = {name: fields[name] for name in ("repository_id", "job_id") if fields.get(name)}
    try:
        body = checked(api.VerifyNow, values)
    except FormInvalid:
        raise UsageError("name a repository or a job by its number", "use the button of its page") from None
    document = api.verifications_request(body, request, session, principal)
    return see_other(f"/verifications/{document['id']}")
