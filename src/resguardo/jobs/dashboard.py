"""The dashboard as the faces show it: the catalog's figures with each job's next run from the scheduler."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.orm import Session

from resguardo.catalog.queries.dashboard import DEFAULT_DAYS, Dashboard, JobLine, dashboard
from resguardo.jobs.catalog_schedules import schedule_of_document
from resguardo.jobs.scheduler import JobState, next_run
from resguardo.jobs.schedules import InvalidSchedule


def next_run_of(line: JobLine, now: datetime) -> datetime | None:
    """Return when the job of ``line`` is expected to run next (None: paused, or its schedule unreadable)."""
    row = line.scheduling
    try:
        schedule = schedule_of_document(row.schedule, row.effective_since)
    except InvalidSchedule:
        return None
    state = JobState(
        job_id=row.job_id,
        schedule=schedule,
        effective_since=row.effective_since,
        last_scheduled_slot=row.last_scheduled_slot,
        paused=row.paused,
        run_in_progress=row.run_in_progress,
        run_now_requested_at=row.run_now_requested_at,
    )
    return next_run(state, now)


def dashboard_view(session: Session, now: datetime, days: int = DEFAULT_DAYS) -> Dashboard:
    """Return the dashboard at ``now`` (timezone-aware), each job's ``next_run_at`` filled in.

    Raises:
        ValueError: ``days`` is out of range (see :func:`resguardo.catalog.queries.dashboard.dashboard`).
    """
    figures = dashboard(session, now, days)
    jobs = [dataclasses.replace(line, next_run_at=next_run_of(line, now)) for line in figures.jobs]
    return dataclasses.replace(figures, jobs=jobs)
