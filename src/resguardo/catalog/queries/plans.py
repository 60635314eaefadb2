"""Data categories and jobs: create, look up, list with filters, change, remove.

A new job takes its schedule and retention from its category unless given; both are checked
(:mod:`resguardo.schedules`, :mod:`resguardo.catalog.retention`) before they are stored. A job's
schedule is stored anchored: an interval without a start date counts from the day it takes effect.
Functions flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from resguardo.catalog.models import MINIMUM_RECORDS_KEEP_DAYS, Category, Client, Job, Repository, Run, User
from resguardo.catalog.queries._common import (
    DEFAULT_PAGE_SIZE,
    Page,
    apply_changes,
    ensure_name_free,
    flush_or_conflict,
    get_by_name_or_raise,
    get_or_raise,
    paginate,
    reverting_on_error,
    touch,
)
from resguardo.catalog.retention import validated_retention
from resguardo.catalog.sources import check_source
from resguardo.core.errors import Conflict, UsageError
from resguardo.core.thresholds import THRESHOLD_FIELDS, check_thresholds
from resguardo.schedules import anchored_schedule_document, checked_schedule_document

CATEGORY_FIELDS = (
    "name",
    "title_es",
    "title_en",
    "register",
    "default_schedule",
    "default_retention",
    *THRESHOLD_FIELDS,
)
JOB_FIELDS = (
    "name",
    "description",
    "source",
    "client_id",
    "repository_id",
    "category_id",
    "schedule",
    "retention",
    "records_keep_days",
    "owner_id",
    "paused",
    "max_retries",
    "retry_backoff_seconds",
    *THRESHOLD_FIELDS,
)
MAX_RETRIES = 20


def create_category(
    session: Session,
    *,
    name: str,
    title_es: str,
    title_en: str,
    default_schedule: Mapping[str, Any],
    default_retention: Mapping[str, Any],
    now: datetime,
    register: str = "",
    size_change_percent: int = 30,
    file_count_change_percent: int = 30,
    unchanged_dump_days: int = 3,
) -> Category:
    """Add a data category and return it (the thresholds are its jobs' verification thresholds).

    Raises:
        Conflict: the name is taken.
        ConfigurationError: the schedule or retention is invalid.
        UsageError: a threshold is out of bounds (:mod:`resguardo.core.thresholds`).
    """
    ensure_name_free(session, Category, Category.name, name, "category")
    thresholds = {
        "size_change_percent": size_change_percent,
        "file_count_change_percent": file_count_change_percent,
        "unchanged_dump_days": unchanged_dump_days,
    }
    check_thresholds(thresholds, optional=False)
    category = Category(
        name=name,
        title_es=title_es,
        title_en=title_en,
        register=register,
        default_schedule=checked_schedule_document(default_schedule),
        default_retention=validated_retention(default_retention),
        **thresholds,
    )
    touch(category, now, created=True)
    session.add(category)
    flush_or_conflict(session, "category", name)
    return category


def get_category(session: Session, category_id: int) -> Category:
    """Return the category with ID ``category_id``. Raises NotFound."""
    return get_or_raise(session, Category, category_id, "category")


def find_category(session: Session, name: str) -> Category:
    """Return the category named ``name`` (e.g. ``databases``). Raises NotFound."""
    return get_by_name_or_raise(session, Category, Category.name, name, "category")


def list_categories(session: Session, *, offset: int = 0, limit: int = DEFAULT_PAGE_SIZE) -> Page[Category]:
    """Return a page of categories by name."""
    return paginate(session, select(Category).order_by(Category.name), offset, limit)


def update_category(
    session: Session, category_id: int, changes: Mapping[str, Any], *, now: datetime
) -> Category:
    """Change the fields of a category named in ``changes`` (see :data:`CATEGORY_FIELDS`).

    Jobs keep the schedule and retention they have: a category's defaults apply to new jobs.

    Raises:
        NotFound, Conflict, UsageError (a threshold out of bounds too); ConfigurationError for an
        invalid schedule or retention.
    """
    category = get_category(session, category_id)
    changes = dict(changes)
    if "name" in changes:
        ensure_name_free(
            session, Category, Category.name, changes["name"], "category", exclude_id=category.id
        )
    if "default_schedule" in changes:
        changes["default_schedule"] = checked_schedule_document(changes["default_schedule"])
    if "default_retention" in changes:
        changes["default_retention"] = validated_retention(changes["default_retention"])
    check_thresholds(changes, optional=False)
    apply_changes(category, changes, CATEGORY_FIELDS, "category")
    touch(category, now)
    flush_or_conflict(session, "category", category.name)
    return category


def delete_category(session: Session, category_id: int) -> None:
    """Remove a category no job belongs to. Raises NotFound, or Conflict when jobs use it."""
    category = get_category(session, category_id)
    names = list(session.scalars(select(Job.name).where(Job.category_id == category.id).limit(5)))
    if names:
        raise Conflict(f"category {category.name!r} is used by jobs: {', '.join(names)}")
    session.delete(category)
    session.flush()


def _check_job(session: Session, job: Job) -> None:
    """Check a job's references and numbers.

    Raises:
        NotFound: the client, repository, category or owner does not exist.
        UsageError: retries or record keeping out of range, or a source that does not fit its kind or
            its client (see :func:`resguardo.catalog.sources.check_source`).
    """
    client = get_or_raise(session, Client, job.client_id, "client")
    get_or_raise(session, Repository, job.repository_id, "repository")
    get_or_raise(session, Category, job.category_id, "category")
    if job.owner_id is not None:
        get_or_raise(session, User, job.owner_id, "user")
    if job.records_keep_days < MINIMUM_RECORDS_KEEP_DAYS:
        raise UsageError(
            f"a job's records are kept at least {MINIMUM_RECORDS_KEEP_DAYS} days, "
            f"not {job.records_keep_days}",
            "the registers must keep a year of records",
        )
    if not 0 <= job.max_retries <= MAX_RETRIES:
        raise UsageError(f"max_retries must be from 0 to {MAX_RETRIES}, not {job.max_retries}")
    if job.retry_backoff_seconds < 0:
        raise UsageError("retry_backoff_seconds must be 0 or more")
    check_thresholds({name: getattr(job, name) for name in THRESHOLD_FIELDS}, optional=True)
    if not isinstance(job.source, dict):
        raise UsageError("a job's source must be an object")
    check_source(job.source, client)


def create_job(
    session: Session,
    *,
    name: str,
    client_id: int,
    repository_id: int,
    category_id: int,
    now: datetime,
    source: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
    retention: Mapping[str, Any] | None = None,
    description: str = "",
    owner_id: int | None = None,
    paused: bool = False,
    max_retries: int = 3,
    retry_backoff_seconds: int = 300,
    records_keep_days: int = MINIMUM_RECORDS_KEEP_DAYS,
    size_change_percent: int | None = None,
    file_count_change_percent: int | None = None,
    unchanged_dump_days: int | None = None,
) -> Job:
    """Add a job and return it; without ``schedule`` or ``retention`` it takes its category's defaults.

    The verification thresholds (None: the category's) are the job's own (R12).

    Raises:
        Conflict: the name is taken.
        NotFound: the client, repository, category or owner does not exist.
        UsageError: numbers out of range; ConfigurationError: an invalid schedule or retention.
    """
    ensure_name_free(session, Job, Job.name, name, "job")
    category = get_category(session, category_id)
    job = Job(
        name=name,
        description=description,
        source=dict(source or {}),
        client_id=client_id,
        repository_id=repository_id,
        category_id=category_id,
        schedule=anchored_schedule_document(
            schedule if schedule is not None else category.default_schedule, now
        ),
        retention=validated_retention(retention if retention is not None else category.default_retention),
        records_keep_days=records_keep_days,
        owner_id=owner_id,
        paused=paused,
        max_retries=max_retries,
        retry_backoff_seconds=retry_backoff_seconds,
        size_change_percent=size_change_percent,
        file_count_change_percent=file_count_change_percent,
        unchanged_dump_days=unchanged_dump_days,
    )
    _check_job(session, job)
    touch(job, now, created=True)
    session.add(job)
    flush_or_conflict(session, "job", name)
    return job


def get_job(session: Session, job_id: int) -> Job:
    """Return the job with ID ``job_id``. Raises NotFound."""
    return get_or_raise(session, Job, job_id, "job")


def find_job(session: Session, name: str) -> Job:
    """Return the job named ``name``. Raises NotFound."""
    return get_by_name_or_raise(session, Job, Job.name, name, "job")


def list_jobs(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    name_contains: str = "",
    client_id: int | None = None,
    repository_id: int | None = None,
    category_id: int | None = None,
    owner_id: int | None = None,
    paused: bool | None = None,
) -> Page[Job]:
    """Return a page of jobs by name, filtered by any of the given fields."""
    statement = select(Job).order_by(Job.name)
    if name_contains:
        statement = statement.where(Job.name.contains(name_contains, autoescape=True))
    filters = {
        Job.client_id: client_id,
        Job.repository_id: repository_id,
        Job.category_id: category_id,
        Job.owner_id: owner_id,
        Job.paused: paused,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    return paginate(session, statement, offset, limit)


def update_job(session: Session, job_id: int, changes: Mapping[str, Any], *, now: datetime) -> Job:
    """Change the fields of a job named in ``changes`` (see :data:`JOB_FIELDS`); return the job.

    Raises:
        NotFound, Conflict, UsageError as for :func:`create_job`; ConfigurationError for an invalid
        schedule or retention.
    """
    job = get_job(session, job_id)
    changes = dict(changes)
    if "name" in changes:
        ensure_name_free(session, Job, Job.name, changes["name"], "job", exclude_id=job.id)
    if "schedule" in changes:
        changes["schedule"] = anchored_schedule_document(changes["schedule"], now)
    if "retention" in changes:
        changes["retention"] = validated_retention(changes["retention"])
    with reverting_on_error(session, job):
        apply_changes(job, changes, JOB_FIELDS, "job")
        _check_job(session, job)
    if "schedule" in changes:
        # The scheduler counts slots from the change, and a pass that read the old schedule queues nothing.
        job.schedule_since = now
        job.plan_version = (job.plan_version or 0) + 1
    touch(job, now)
    flush_or_conflict(session, "job", job.name)
    return job


def delete_job(session: Session, job_id: int, *, now: datetime) -> None:
    """Remove a job with its runs and failure entries, once its records may go (R21).

    The registers keep a job's runs for ``records_keep_days`` (at least a year): a job with a run
    queued within that time cannot be removed; pause it instead, which keeps its history.

    Raises:
        NotFound: no such job.
        Conflict: the job has runs younger than its records must be kept.
    """
    job = get_job(session, job_id)
    keep_since = now - timedelta(days=job.records_keep_days)
    recent = session.scalar(
        select(func.count()).select_from(Run).where(Run.job_id == job.id, Run.queued_at > keep_since)
    )
    if recent:
        raise Conflict(
            f"job {job.name!r} has {recent} run(s) from the last {job.records_keep_days} days, whose records "
            "must be kept",
            "pause the job instead; it can be removed once its runs are older than that",
        )
    session.delete(job)
    session.flush()
