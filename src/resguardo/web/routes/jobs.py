"""Jobs: list, add, edit, a job's page with its recent runs, run now, pause and resume.

Forms are checked by the API's input models and saved by the API's endpoint functions; "run now" is
the service's :func:`resguardo.services.request_run_now` (the scheduler queues the run at its next pass).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import plans as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX, now_of
from resguardo.catalog.models import Job
from resguardo.catalog.queries import (
    MAX_PAGE_SIZE,
    get_job,
    list_categories,
    list_clients,
    list_jobs,
    list_repositories,
    list_runs,
)
from resguardo.core.errors import ConfigurationError
from resguardo.core.thresholds import THRESHOLD_FIELDS
from resguardo.services import request_run_now
from resguardo.web.forms import FormInvalid, FormState, checked, flag, optional_int, submit
from resguardo.web.i18n import gettext
from resguardo.web.job_sources import SOURCE_FIELDS, kind_choices, source_fields, source_from_form
from resguardo.web.pages import PAGE_SIZE, Fields, language_of, page, page_offset, render, see_other
from resguardo.web.schedules import schedule_for_display, schedule_from_form

router = APIRouter(include_in_schema=False)
JobId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
RECENT_RUNS = 10


@router.get("/jobs")
def jobs_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("jobs.read")]
) -> HTMLResponse:
    """List jobs with their schedules (permission ``jobs.read``)."""
    name = request.query_params.get("name", "")[:120]
    listing = list_jobs(session, offset=page_offset(request), limit=PAGE_SIZE, name_contains=name)
    context = {"listing": listing, "name": name}
    return render(request, "jobs.html", context, principal)


def _choices(session: Session, language: str) -> dict[str, Any]:
    """Return the (ID, name) of the clients, repositories and categories a job may name (the first
    page of each; a category by its title in the page's language)."""
    spanish = language == "es"
    return {
        "clients": [(item.id, item.name) for item in list_clients(session, limit=MAX_PAGE_SIZE).items],
        "repositories": [
            (item.id, item.name) for item in list_repositories(session, limit=MAX_PAGE_SIZE).items
        ],
        "categories": [
            (item.id, item.title_es if spanish else item.title_en)
            for item in list_categories(session, limit=MAX_PAGE_SIZE).items
        ],
    }


def _job_form(
    session: Session,
    request: Request,
    principal: Principal,
    values: dict[str, Any],
    job_id: int | None = None,
) -> dict[str, Any]:
    choices = _choices(session, language_of(request, principal))
    return {"form": FormState(values), "job_id": job_id, "kinds": kind_choices(), **choices}


def _job_values(fields: dict[str, str]) -> dict[str, Any]:
    """Return the form's values as shown again in the form."""
    names = ("name", "description", "client_id", "repository_id", "category_id", *SOURCE_FIELDS)
    values: dict[str, Any] = {name: fields.get(name, "") for name in names}
    values.update(
        schedule=fields.get("schedule", ""),
        window_start=fields.get("window_start", ""),
        window_end=fields.get("window_end", ""),
        max_retries=fields.get("max_retries", "3"),
        paused=flag(fields, "paused"),
    )
    values.update({name: fields.get(name, "") for name in THRESHOLD_FIELDS})
    return values


def _job_body(
    values: dict[str, Any], request: Request, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the API's job body of the form's values (``previous``: the stored source, when editing).

    Raises:
        FormInvalid: the schedule or the window cannot be read, or no path is given.
    """
    source, errors = source_from_form(values, previous)
    schedule = None
    if values["schedule"].strip():
        try:
            schedule = schedule_from_form(values["schedule"], values["window_start"], values["window_end"])
        except ConfigurationError as error:
            field = getattr(error, "field", "schedule")
            name = (
                "window_start"
                if field == "window.start"
                else "window_end"
                if field == "window.end"
                else "schedule"
            )
            lead = gettext("This schedule cannot be read:")
            errors[name] = f"{lead} {error.message}"
    if errors:
        raise FormInvalid(errors)
    body = {
        "name": values["name"],
        "description": values["description"],
        "client_id": optional_int(values["client_id"]),
        "repository_id": optional_int(values["repository_id"]),
        "category_id": optional_int(values["category_id"]),
        "source": source,
        "max_retries": optional_int(values["max_retries"]) if values["max_retries"].strip() else 3,
        "paused": values["paused"],
        **{name: optional_int(values[name]) for name in THRESHOLD_FIELDS},
    }
    if schedule is not None:
        body["schedule"] = schedule
    return body


@router.get("/jobs/new")
def job_new(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("jobs.write")]
) -> HTMLResponse:
    """Show the form of a new job (permission ``jobs.write``)."""
    values = {"max_retries": "3", "schedule": "", "paused": False, **dict.fromkeys(THRESHOLD_FIELDS, "")}
    return render(request, "job_form.html", _job_form(session, request, principal, values), principal)


@router.post("/jobs/new")
def job_create(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("jobs.write")],
) -> Response:
    """Add a job as ``POST /api/v1/jobs`` does (no schedule: its category's)."""
    values = _job_values(fields)

    def save() -> str:
        created = api.jobs_create(
            checked(api.JobCreate, _job_body(values, request)), request, session, principal
        )
        return f"/jobs/{created['id']}"

    return submit(
        request, session, principal, "job_form.html", _job_form(session, request, principal, values), save
    )


def _values_of(job: Job) -> dict[str, Any]:
    text, start, end = schedule_for_display(job.schedule)
    return {
        "name": job.name,
        "description": job.description,
        "client_id": str(job.client_id),
        "repository_id": str(job.repository_id),
        "category_id": str(job.category_id),
        **source_fields(dict(job.source or {})),
        "schedule": text,
        "window_start": start,
        "window_end": end,
        "max_retries": str(job.max_retries),
        "paused": job.paused,
        **{name: "" if getattr(job, name) is None else str(getattr(job, name)) for name in THRESHOLD_FIELDS},
    }


@router.get("/jobs/{job_id}")
def job_page(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("jobs.read")],
) -> HTMLResponse:
    """Show a job, its schedule and its recent runs (refreshed while one is asked for, queued or running)."""
    return render(request, "job.html", _job_context(session, job_id), principal)


@router.get("/jobs/{job_id}/runs")
def job_runs_fragment(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("jobs.read")],
) -> HTMLResponse:
    """Return the fragment of a job's recent runs that its page polls."""
    return render(request, "_job_runs.html", _job_context(session, job_id), principal)


def _job_context(session: Session, job_id: int) -> dict[str, Any]:
    job = get_job(session, job_id)
    runs = list_runs(session, job_id=job.id, limit=RECENT_RUNS).items
    busy = job.run_now_requested_at is not None or any(not run.state.finished for run in runs)
    _text, start, end = schedule_for_display(job.schedule)
    return {
        "job": job,
        "runs": runs,
        "busy": busy,
        "window": (start, end),
    }


@router.get("/jobs/{job_id}/edit")
def job_edit(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("jobs.write")],
) -> HTMLResponse:
    """Show the form of a job."""
    context = _job_form(session, request, principal, _values_of(get_job(session, job_id)), job_id)
    return render(request, "job_form.html", context, principal)


@router.post("/jobs/{job_id}/edit")
def job_update(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("jobs.write")],
) -> Response:
    """Change a job as ``PATCH /api/v1/jobs/{id}`` does."""
    values = _job_values(fields)

    previous = dict(get_job(session, job_id).source or {})

    def save() -> str:
        body = checked(api.JobUpdate, _job_body(values, request, previous))
        api.jobs_update(job_id, body, request, session, principal)
        return f"/jobs/{job_id}"

    return submit(
        request,
        session,
        principal,
        "job_form.html",
        _job_form(session, request, principal, values, job_id),
        save,
    )


@router.post("/jobs/{job_id}/run")
def job_run_now(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("jobs.run")],
) -> RedirectResponse:
    """Ask for a run of the job now (permission ``jobs.run``, as ``POST /api/v1/jobs/{id}/run``); a paused
    job is refused (409)."""
    request_run_now(session, job_id, principal.user, now_of(request))
    return see_other(f"/jobs/{job_id}")


def _set_paused(job_id: int, paused: bool, request: Request, session: Session, principal: Principal) -> None:
    api.jobs_update(job_id, api.JobUpdate(paused=paused), request, session, principal)


@router.post("/jobs/{job_id}/pause")
def job_pause(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("jobs.write")],
) -> RedirectResponse:
    """Pause a job as ``PATCH /api/v1/jobs/{id}`` with ``paused`` does."""
    _set_paused(job_id, True, request, session, principal)
    return see_other(f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/resume")
def job_resume(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("jobs.write")],
) -> RedirectResponse:
    """Resume a paused job."""
    _set_paused(job_id, False, request, session, principal)
    return see_other(f"/jobs/{job_id}")
