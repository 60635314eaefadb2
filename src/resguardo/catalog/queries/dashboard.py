"""The dashboard's figures: every job's state, last run and open failures, bytes per repository, and
the runs and bytes of each of the last days, in a handful of grouped queries (no query per job).

The next run of each job is the scheduler's business: :func:`resguardo.jobs.dashboard.dashboard_view`
adds it to these figures. Days are UTC days; a run counts on the day it finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from resguardo.catalog.enums import RunState
from resguardo.catalog.models import Client, FailureEntry, Job, Repository, Run
from resguardo.catalog.queries.scheduling import BUSY_STATES, SchedulingRow

DEFAULT_DAYS = 30
MAX_DAYS = 90


@dataclass(frozen=True)
class JobLine:
    """One job on the dashboard.

    Attributes:
        job_id, name, paused: the job.
        client_name, repository_name: where it reads from and writes to.
        last_run_id, last_run_state, last_run_at: its latest run (``last_run_at``: when it finished,
            else started, else was queued); None when it never ran.
        open_failures: its failure-log entries not closed yet.
        scheduling: what the scheduler needs to say when it runs next.
        next_run_at: when it is expected to run next (filled in by the jobs layer; None: paused,
            or not computed).
    """

    job_id: int
    name: str
    paused: bool
    client_name: str
    repository_name: str
    last_run_id: int | None
    last_run_state: RunState | None
    last_run_at: datetime | None
    open_failures: int
    scheduling: SchedulingRow
    next_run_at: datetime | None = None


@dataclass(frozen=True)
class RepositoryBytes:
    """What the runs of every job of one repository read and added, and how many runs there were."""

    repository_id: int
    name: str
    bytes_read: int
    bytes_added: int
    runs: int


@dataclass(frozen=True)
class DayFigures:
    """The runs that finished on one UTC day: how many, how many succeeded, partly or failed, their bytes."""

    day: date
    runs: int
    succeeded: int
    partial: int
    failed: int
    bytes_read: int
    bytes_added: int


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows (the same for the API and the console)."""

    jobs: list[JobLine]
    open_failures: int
    repositories: list[RepositoryBytes]
    days: list[DayFigures]
    runs_by_state: dict[str, int]


def dashboard(session: Session, now: datetime, days: int = DEFAULT_DAYS) -> Dashboard:
    """Return the dashboard's figures at ``now`` (timezone-aware), with the last ``days`` days.

    Raises:
        ValueError: ``days`` is not from 1 to :data:`MAX_DAYS`.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"the dashboard shows 1 to {MAX_DAYS} days, not {days}")
    jobs = _job_lines(session)
    by_state = {state.value: 0 for state in RunState}
    for state, count in session.execute(select(Run.state, func.count()).group_by(Run.state)):
        by_state[RunState(state).value] = count
    return Dashboard(
        jobs=jobs,
        open_failures=sum(line.open_failures for line in jobs),
        repositories=_repository_bytes(session),
        days=_days(session, now, days),
        runs_by_state=by_state,
    )


def _job_lines(session: Session) -> list[JobLine]:
    """Return every job's line, by name: four queries whatever the number of jobs."""
    latest_ids = select(func.max(Run.id).label("run_id")).group_by(Run.job_id).subquery()
    latest = {
        row.job_id: row
        for row in session.execute(
            select(Run.id, Run.job_id, Run.state, Run.queued_at, Run.started_at, Run.finished_at).join(
                latest_ids, Run.id == latest_ids.c.run_id
            )
        )
    }
    busy = set(session.scalars(select(Run.job_id).where(Run.state.in_(BUSY_STATES)).distinct()))
    failures: dict[int, int] = {
        job_id: count
        for job_id, count in session.execute(
            select(FailureEntry.job_id, func.count())
            .where(FailureEntry.closed_at.is_(None))
            .group_by(FailureEntry.job_id)
        )
    }
    rows = session.execute(
        select(
            Job.id,
            Job.name,
            Job.paused,
            Job.schedule,
            Job.schedule_since,
            Job.created_at,
            Job.last_scheduled_slot,
            Job.run_now_requested_at,
            Job.plan_version,
            Client.name.label("client_name"),
            Repository.name.label("repository_name"),
        )
        .join(Client, Client.id == Job.client_id)
        .join(Repository, Repository.id == Job.repository_id)
        .order_by(Job.name)
    )
    return [_job_line(row, latest.get(row.id), row.id in busy, failures.get(row.id, 0)) for row in rows]


def _job_line(row: Any, last: Any, busy: bool, open_failures: int) -> JobLine:
    """Return the line of one job from its row, its latest run's row (or None) and its counts."""
    scheduling = SchedulingRow(
        job_id=row.id,
        name=row.name,
        schedule=dict(row.schedule),
        effective_since=row.schedule_since or row.created_at,
        last_scheduled_slot=row.last_scheduled_slot,
        run_now_requested_at=row.run_now_requested_at,
        paused=row.paused,
        run_in_progress=busy,
        plan_version=row.plan_version,
    )
    return JobLine(
        job_id=row.id,
        name=row.name,
        paused=row.paused,
        client_name=row.client_name,
        repository_name=row.repository_name,
        last_run_id=last.id if last is not None else None,
        last_run_state=RunState(last.state) if last is not None else None,
        last_run_at=(last.finished_at or last.started_at or last.queued_at) if last is not None else None,
        open_failures=open_failures,
        scheduling=scheduling,
    )


def _repository_bytes(session: Session) -> list[RepositoryBytes]:
    """Return the bytes of every repository's runs (repositories without runs too), by name."""
    totals = (
        select(
            Job.repository_id,
            func.coalesce(func.sum(Run.bytes_read), 0),
            func.coalesce(func.sum(Run.bytes_added), 0),
            func.count(Run.id),
        )
        .join(Run, Run.job_id == Job.id)
        .group_by(Job.repository_id)
    )
    figures = {
        repository_id: (int(read), int(added), count)
        for repository_id, read, added, count in session.execute(totals)
    }
    result = []
    names = select(Repository.id, Repository.name).order_by(Repository.name)
    for repository_id, name in session.execute(names):
        read, added, count = figures.get(repository_id, (0, 0, 0))
        result.append(RepositoryBytes(repository_id, name, read, added, count))
    return result


def _days(session: Session, now: datetime, days: int) -> list[DayFigures]:
    """Return the figures of each of the last ``days`` UTC days, oldest first (today included).

    One grouped query: each finished run is put in its day's bucket by a CASE over the days' starts,
    which reads the same on SQLite and PostgreSQL.
    """
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    starts = [today - timedelta(days=back) for back in range(days)]  # newest first
    bucket = case(*((Run.finished_at >= start, index) for index, start in enumerate(starts)), else_=-1)
    statement = (
        select(
            bucket.label("bucket"),
            Run.state,
            func.count(),
            func.coalesce(func.sum(Run.bytes_read), 0),
            func.coalesce(func.sum(Run.bytes_added), 0),
        )
        .where(Run.finished_at.is_not(None), Run.finished_at >= starts[-1])
        .group_by(bucket, Run.state)
    )
    counts = [[0, 0, 0, 0, 0, 0] for _ in starts]
    columns = {RunState.SUCCEEDED: 1, RunState.PARTIAL: 2, RunState.FAILED: 3}
    for index, state, count, read, added in session.execute(statement):
        if not 0 <= index < days:
            continue
        figures = counts[index]
        figures[0] += count
        column = columns.get(RunState(state))
        if column is not None:
            figures[column] += count
        figures[4] += int(read)
        figures[5] += int(added)
    return [DayFigures(start.date(), *counts[index]) for index, start in reversed(list(enumerate(starts)))]
