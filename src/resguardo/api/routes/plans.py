"""Data categories and jobs; "run now" asks the scheduler for a manual run of a job."""

from __future__ import annotations

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
    Name,
    NameFilter,
    Offset,
    Text,
    audit,
    changes_of,
    checked_by,
    naming_fields,
    now_of,
    page_of,
)
from resguardo.catalog.models import MINIMUM_RECORDS_KEEP_DAYS, Category, Job
from resguardo.catalog.queries import (
    create_category,
    create_job,
    delete_category,
    delete_job,
    get_category,
    get_job,
    list_categories,
    list_jobs,
    snapshot_of,
    update_category,
    update_job,
)
from resguardo.catalog.queries.plans import MAX_RETRIES
from resguardo.catalog.retention import validated_retention
from resguardo.core.thresholds import MAX_DAYS, MAX_PERCENT, MIN_DAYS, MIN_PERCENT, THRESHOLD_FIELDS
from resguardo.schedules import checked_schedule_document
from resguardo.services import request_run_now

router = APIRouter(prefix="/api/v1", tags=["plans"])
CategoryId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
JobId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
Schedule = Annotated[dict[str, Any], checked_by(checked_schedule_document)]
Retention = Annotated[dict[str, Any], checked_by(validated_retention)]
Title = Annotated[str, Field(min_length=1, max_length=120)]
Register = Annotated[str, Field(max_length=32)]
KeepDays = Annotated[int, Field(ge=MINIMUM_RECORDS_KEEP_DAYS, le=DATABASE_INTEGER_MAX)]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES)]
Backoff = Annotated[int, Field(ge=0, le=7 * 24 * 3600)]
Percent = Annotated[int, Field(ge=MIN_PERCENT, le=MAX_PERCENT)]
Days = Annotated[int, Field(ge=MIN_DAYS, le=MAX_DAYS)]
JOB_FIELDS = (
    "name",
    "schedule",
    "retention",
    "records_keep_days",
    "max_retries",
    "retry_backoff_seconds",
    *THRESHOLD_FIELDS,
)


class CategoryCreate(Input):
    """A new data category with its default schedule and retention."""

    name: Name
    title_es: Title
    title_en: Title
    paper_register: Register = Field(default="", alias="register")
    default_schedule: Schedule
    default_retention: Retention
    size_change_percent: Percent = 30
    file_count_change_percent: Percent = 30
    unchanged_dump_days: Days = 3


class CategoryUpdate(Input):
    """Changes to a category (jobs keep theirs; the defaults apply to new jobs)."""

    name: Name | None = None
    title_es: Title | None = None
    title_en: Title | None = None
    paper_register: Register | None = Field(default=None, alias="register")
    default_schedule: Schedule | None = None
    default_retention: Retention | None = None
    size_change_percent: Percent | None = None
    file_count_change_percent: Percent | None = None
    unchanged_dump_days: Days | None = None


def category_json(category: Category) -> dict[str, Any]:
    """Return a category as JSON."""
    return {
        "id": category.id,
        "name": category.name,
        "title_es": category.title_es,
        "title_en": category.title_en,
        "register": category.register,
        "default_schedule": category.default_schedule,
        "default_retention": category.default_retention,
        "size_change_percent": category.size_change_percent,
        "file_count_change_percent": category.file_count_change_percent,
        "unchanged_dump_days": category.unchanged_dump_days,
    }


@router.get("/categories")
def categories_list(
    session: CatalogSession,
    principal: Annotated[Principal, allow("categories.read")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List data categories by name."""
    return page_of(list_categories(session, offset=offset, limit=limit), category_json)


@router.post("/categories", status_code=201)
def categories_create(
    body: CategoryCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("categories.write")],
) -> dict[str, Any]:
    """Add a data category."""
    category = create_category(session, now=now_of(request), **body.model_dump(by_alias=True))
    audit(
        session, request, principal, "category.create", "category", category.id, after=snapshot_of(category)
    )
    session.commit()
    return category_json(category)


@router.get("/categories/{category_id}")
def categories_show(
    category_id: CategoryId,
    session: CatalogSession,
    principal: Annotated[Principal, allow("categories.read")],
) -> dict[str, Any]:
    """Show one data category."""
    return category_json(get_category(session, category_id))


@router.patch("/categories/{category_id}")
def categories_update(
    category_id: CategoryId,
    body: CategoryUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("categories.write")],
) -> dict[str, Any]:
    """Change a data category."""
    before = snapshot_of(get_category(session, category_id))
    changes = {key: value for key, value in changes_of(body, by_alias=True).items() if value is not None}
    category = update_category(session, category_id, changes, now=now_of(request))
    audit(
        session, request, principal, "category.update", "category", category_id, before, snapshot_of(category)
    )
    session.commit()
    return category_json(category)


@router.delete("/categories/{category_id}", status_code=204)
def categories_delete(
    category_id: CategoryId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("categories.write")],
) -> None:
    """Remove a category no job belongs to."""
    before = snapshot_of(get_category(session, category_id))
    delete_category(session, category_id)
    audit(session, request, principal, "category.delete", "category", category_id, before=before)
    session.commit()


class JobCreate(Input):
    """A new job; without ``schedule`` or ``retention`` it takes its category's."""

    name: Name
    client_id: Identifier
    repository_id: Identifier
    category_id: Identifier
    source: dict[str, Any] = Field(default_factory=dict, max_length=100)
    schedule: Schedule | None = None
    retention: Retention | None = None
    description: Text = ""
    owner_id: Identifier | None = None
    paused: bool = False
    max_retries: Retries = 3
    retry_backoff_seconds: Backoff = 300
    records_keep_days: KeepDays = MINIMUM_RECORDS_KEEP_DAYS
    size_change_percent: Percent | None = None
    file_count_change_percent: Percent | None = None
    unchanged_dump_days: Days | None = None


class JobUpdate(Input):
    """Changes to a job (only the fields sent change; ``owner_id`` and the verification thresholds may be
    set to null, the thresholds then following the category's)."""

    name: Name | None = None
    client_id: Identifier | None = None
    repository_id: Identifier | None = None
    category_id: Identifier | None = None
    source: dict[str, Any] | None = Field(default=None, max_length=100)
    schedule: Schedule | None = None
    retention: Retention | None = None
    description: Text | None = None
    owner_id: Identifier | None = None
    paused: bool | None = None
    max_retries: Retries | None = None
    retry_backoff_seconds: Backoff | None = None
    records_keep_days: KeepDays | None = None
    size_change_percent: Percent | None = None
    file_count_change_percent: Percent | None = None
    unchanged_dump_days: Days | None = None


NULLABLE_JOB_FIELDS = ("owner_id", *THRESHOLD_FIELDS)


def job_json(job: Job) -> dict[str, Any]:
    """Return a job as JSON."""
    return {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "source": job.source,
        "client_id": job.client_id,
        "repository_id": job.repository_id,
        "category_id": job.category_id,
        "schedule": job.schedule,
        "retention": job.retention,
        "records_keep_days": job.records_keep_days,
        "owner_id": job.owner_id,
        "paused": job.paused,
        "run_now_requested_at": job.run_now_requested_at.isoformat() if job.run_now_requested_at else None,
        "max_retries": job.max_retries,
        "retry_backoff_seconds": job.retry_backoff_seconds,
        "size_change_percent": job.size_change_percent,
        "file_count_change_percent": job.file_count_change_percent,
        "unchanged_dump_days": job.unchanged_dump_days,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


@router.get("/jobs")
def jobs_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    name_contains: NameFilter = "",
    client_id: IdFilter = None,
    repository_id: IdFilter = None,
    category_id: IdFilter = None,
    owner_id: IdFilter = None,
    paused: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    """List jobs by name, filtered by client, repository, category, owner or paused."""
    page = list_jobs(
        session,
        offset=offset,
        limit=limit,
        name_contains=name_contains,
        client_id=client_id,
        repository_id=repository_id,
        category_id=category_id,
        owner_id=owner_id,
        paused=paused,
    )
    return page_of(page, job_json)


@router.post("/jobs", status_code=201)
def jobs_create(
    body: JobCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.write")],
) -> dict[str, Any]:
    """Add a job."""
    with naming_fields(JOB_FIELDS):
        job = create_job(session, now=now_of(request), **body.model_dump())
    audit(session, request, principal, "job.create", "job", job.id, after=snapshot_of(job))
    session.commit()
    return job_json(job)


@router.get("/jobs/{job_id}")
def jobs_show(
    job_id: JobId, session: CatalogSession, principal: Annotated[Principal, allow("jobs.read")]
) -> dict[str, Any]:
    """Show one job."""
    return job_json(get_job(session, job_id))


@router.patch("/jobs/{job_id}")
def jobs_update(
    job_id: JobId,
    body: JobUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.write")],
) -> dict[str, Any]:
    """Change a job (pause it with ``{"paused": true}``)."""
    before = snapshot_of(get_job(session, job_id))
    changes = {
        key: value
        for key, value in changes_of(body).items()
        if value is not None or key in NULLABLE_JOB_FIELDS
    }
    with naming_fields(JOB_FIELDS):
        job = update_job(session, job_id, changes, now=now_of(request))
    audit(session, request, principal, "job.update", "job", job_id, before, snapshot_of(job))
    session.commit()
    return job_json(job)


@router.delete("/jobs/{job_id}", status_code=204)
def jobs_delete(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.write")],
) -> None:
    """Remove a job with no run younger than its records must be kept (409 otherwise: pause it)."""
    before = snapshot_of(get_job(session, job_id))
    delete_job(session, job_id, now=now_of(request))
    audit(session, request, principal, "job.delete", "job", job_id, before=before)
    session.commit()


@router.post("/jobs/{job_id}/run", status_code=202)
def jobs_run_now(
    job_id: JobId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.run")],
) -> dict[str, Any]:
    """Ask for one run of a job now ("run now"): the next scheduling pass queues it and a worker runs it.

    The same request as ``resguardo job run NAME`` (:func:`resguardo.services.request_run_now`); a
    request already waiting is kept (it gives one run); 409 when the job is paused.
    """
    return job_json(request_run_now(session, job_id, principal.user, now_of(request)))
