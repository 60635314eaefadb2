"""The dashboard as the faces show it: the catalog's figures with each job's next run from the scheduler."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.orm import Session

from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE
from resguardo.catalog.queries.dashboard import DEFAULT_DAYS, Dashboard, JobLine, dashboard
from resguardo.jobs.scheduler import next_run
from resguardo.jobs.scheduling_loop import ScheduleCache, job_state
from resguardo.schedules import InvalidSchedule

_SCHEDULES = ScheduleCache()
"""Schedules read for earlier dashboards (entries of changed jobs are replaced, see ScheduleCache)."""


def next_run_of(line: JobLine, now: datetime, cache: ScheduleCache | None = None) -> datetime | None:
    """Return when the job of ``line`` is expected to run next (None: paused, or its schedule unreadable)."""
    try:
        state = job_state(line.scheduling, cache if cache is not None else ScheduleCache())
    except InvalidSchedule:
        return None
    return next_run(state, now)


def dashboard_view(
    session: Session,
    now: datetime,
    days: int = DEFAULT_DAYS,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    name_contains: str = "",
    open_failures_only: bool = False,
) -> Dashboard:
    """Return the dashboard at ``now`` (timezone-aware), each job line's ``next_run_at`` filled in.

    The arguments are those of :func:`resguardo.catalog.queries.dashboard.dashboard`.

    Raises:
        ValueError: ``days`` is out of range.
        UsageError: bad pagination arguments.
    """
    figures = dashboard(
        session,
        now,
        days,
        offset=offset,
        limit=limit,
        name_contains=name_contains,
        open_failures_only=open_failures_only,
    )
    lines = [
        dataclasses.replace(line, next_run_at=next_run_of(line, now, _SCHEDULES))
        for line in figures.jobs.items
    ]
    return dataclasses.replace(figures, jobs=dataclasses.replace(figures.jobs, items=lines))
