"""The dashboard's figures: a page of jobs with their state, last run and open failures, the runs and
bytes of each of the last days, per repository, in a handful of grouped queries (no query per job).

The next run of each job is the scheduler's business: :func:`resguardo.jobs.dashboard.dashboard_view`
adds it to these figures. Days are UTC days; a run counts on the day it finished.

The figures of past days do not change once their runs have finished, so a process keeps them
(:class:`_PastDays`, per catalog) and reads only today's runs again: with 3,000 jobs and a month of runs,
a dashboard costs a few milliseconds however many runs the catalog holds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from resguardo.catalog.enums import RunState, Verification
from resguardo.catalog.models import Client, FailureEntry, Job, Repository, Run
from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE, Page, check_page
from resguardo.catalog.queries.scheduling import BUSY_STATES, SchedulingRow

DEFAULT_DAYS = 30
MAX_DAYS = 90
SETTLED_AFTER = timedelta(hours=1)
"""A past day's figures are kept once it ended this long ago (a run's end is written when it ends)."""


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
        last_run_verification: the verdict on its latest run's backup (None when it never ran).
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
    last_run_verification: Verification | None = None


@dataclass(frozen=True)
class RepositoryBytes:
    """What the runs of one repository's jobs that finished in the last days read and added, and how many
    runs there were."""

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
    """Everything the dashboard shows (the same for the API and the console).

    Attributes:
        jobs: a page of job lines, by name.
        open_failures: the failure-log entries not closed yet, of every job.
        jobs_with_open_failures: how many jobs have one.
        repositories: the runs and bytes of the last days, per repository.
        days: the runs and bytes of each of the last days, oldest first.
        runs_by_state: how many runs the catalog holds in each state.
    """

    jobs: Page[JobLine]
    open_failures: int
    jobs_with_open_failures: int
    repositories: list[RepositoryBytes]
    days: list[DayFigures]
    runs_by_state: dict[str, int]


def dashboard(
    session: Session,
    now: datetime,
    days: int = DEFAULT_DAYS,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    name_contains: str = "",
    open_failures_only: bool = False,
) -> Dashboard:
    """Return the dashboard's figures at ``now`` (timezone-aware), with the last ``days`` days.

    Args:
        session: a catalog session.
        now: the moment of the figures.
        days: how many UTC days of figures, today included.
        offset, limit: the page of job lines.
        name_contains: only jobs whose name holds this text.
        open_failures_only: only the jobs that need attention: with an open failure-log entry, or whose
            latest backup's verification warned or failed.

    Raises:
        ValueError: ``days`` is not from 1 to :data:`MAX_DAYS`.
        UsageError: bad pagination arguments.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"the dashboard shows 1 to {MAX_DAYS} days, not {days}")
    check_page(offset, limit)
    by_state = {state.value: 0 for state in RunState}
    for state, count in session.execute(select(Run.state, func.count()).group_by(Run.state)):
        by_state[RunState(state).value] = count
    open_entries = FailureEntry.closed_at.is_(None)
    failing = session.execute(
        select(func.count(), func.count(func.distinct(FailureEntry.job_id))).where(open_entries)
    ).one()
    day_figures, repositories = _last_days(session, now, days)
    return Dashboard(
        jobs=_job_lines(session, offset, limit, name_contains, open_failures_only),
        open_failures=int(failing[0]),
        jobs_with_open_failures=int(failing[1]),
        repositories=repositories,
        days=day_figures,
        runs_by_state=by_state,
    )


def _job_lines(
    session: Session, offset: int, limit: int, name_contains: str, open_failures_only: bool
) -> Page[JobLine]:
    """Return a page of job lines, by name: five small queries whatever the number of jobs and runs."""
    conditions = []
    if name_contains:
        conditions.append(Job.name.contains(name_contains, autoescape=True))
    if open_failures_only:
        conditions.append(
            or_(
                Job.id.in_(select(FailureEntry.job_id).where(FailureEntry.closed_at.is_(None))),
                Job.id.in_(_verification_warned()),
            )
        )
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    rows = list(
        session.execute(
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
            .where(*conditions)
            .order_by(Job.name)
            .offset(offset)
            .limit(limit)
        )
    )
    ids = [row.id for row in rows]
    latest_ids = select(func.max(Run.id)).where(Run.job_id.in_(ids)).group_by(Run.job_id)
    latest = {
        row.job_id: row
        for row in session.execute(
            select(
                Run.id,
                Run.job_id,
                Run.state,
                Run.verification,
                Run.queued_at,
                Run.started_at,
                Run.finished_at,
            ).where(Run.id.in_(latest_ids))
        )
    }
    busy = set(
        session.scalars(select(Run.job_id).where(Run.job_id.in_(ids), Run.state.in_(BUSY_STATES)).distinct())
    )
    failures: dict[int, int] = {
        job_id: count
        for job_id, count in session.execute(
            select(FailureEntry.job_id, func.count())
            .where(FailureEntry.job_id.in_(ids), FailureEntry.closed_at.is_(None))
            .group_by(FailureEntry.job_id)
        )
    }
    items = [_job_line(row, latest.get(row.id), row.id in busy, failures.get(row.id, 0)) for row in rows]
    return Page(items=items, total=total, offset=offset, limit=limit)


def _verification_warned() -> Any:
    """Return the query of the jobs whose latest backup (a succeeded or partial run) warned or failed."""
    latest = (
        select(func.max(Run.id))
        .where(Run.state.in_([RunState.SUCCEEDED, RunState.PARTIAL]))
        .group_by(Run.job_id)
    )
    return select(Run.job_id).where(
        Run.id.in_(latest), Run.verification.in_([Verification.WARNINGS, Verification.FAILED])
    )


def _job_line(row: Any, last: Any, busy: bool, open_failures: int) -> JobLine:
    """Return the line of one job from its row, its latest run's row (or None) and its counts."""
    scheduling = SchedulingRow(
        job_id=row.id,
        name=row.name,
        stored_schedule=dict(row.schedule),
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
        last_run_verification=Verification(last.verification) if last is not None else None,
    )


# (day index, repository ID, state) -> [runs, bytes read, bytes added]
_Cells = dict[tuple[int, int, str], list[int]]


class _PastDays:
    """The figures of settled past days, per catalog (its URL) and day, kept by the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: dict[tuple[str, date], list[tuple[int, str, int, int, int]]] = {}

    def get(self, catalog: str, day: date) -> list[tuple[int, str, int, int, int]] | None:
        """Return the kept figures of ``day`` in ``catalog`` (None when not kept)."""
        with self._lock:
            return self._days.get((catalog, day))

    def keep(self, catalog: str, day: date, rows: list[tuple[int, str, int, int, int]], oldest: date) -> None:
        """Keep the figures of a settled ``day``; forget days before ``oldest``."""
        with self._lock:
            self._days[(catalog, day)] = rows
            for key in [key for key in self._days if key[1] < oldest]:
                del self._days[key]


_PAST_DAYS = _PastDays()


def _last_days(session: Session, now: datetime, days: int) -> tuple[list[DayFigures], list[RepositoryBytes]]:
    """Return the figures of each of the last ``days`` UTC days (oldest first, today included) and the
    runs and bytes of those days per repository (every repository, by name).

    Settled past days come from :data:`_PAST_DAYS` when it has them; the others are read in one grouped
    query over the runs that finished since the oldest day missing (the index on ``finished_at``).
    """
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    starts = [today - timedelta(days=back) for back in reversed(range(days))]  # oldest first
    catalog = str(session.get_bind().engine.url)
    settled = [start + timedelta(days=1) + SETTLED_AFTER <= now for start in starts]
    kept = {
        index: rows
        for index, start in enumerate(starts)
        if settled[index] and (rows := _PAST_DAYS.get(catalog, start.date())) is not None
    }
    missing = [index for index in range(days) if index not in kept]
    read = _read_days(session, starts, missing[0]) if missing else {}
    for index in missing:
        rows = read.get(index, [])
        if settled[index]:
            _PAST_DAYS.keep(
                catalog, starts[index].date(), rows, oldest=starts[0].date() - timedelta(MAX_DAYS)
            )
        kept[index] = rows
    cells: _Cells = {}
    for index, rows in kept.items():
        for repository_id, state, count, bytes_read, bytes_added in rows:
            cells[(index, repository_id, state)] = [count, bytes_read, bytes_added]
    return _day_figures(starts, cells), _repository_figures(session, cells)


def _read_days(
    session: Session, starts: list[datetime], first: int
) -> dict[int, list[tuple[int, str, int, int, int]]]:
    """Return, by day index from ``first`` on, (repository ID, state, runs, read, added) of the runs that
    finished that day: one grouped query, each run put in its day's bucket by a CASE over the days'
    starts (which reads the same on SQLite and PostgreSQL)."""
    newest_first = list(enumerate(starts))[first:][::-1]
    bucket = case(*((Run.finished_at >= start, index) for index, start in newest_first), else_=-1)
    statement = (
        select(
            bucket.label("bucket"),
            Job.repository_id,
            Run.state,
            func.count(),
            func.coalesce(func.sum(Run.bytes_read), 0),
            func.coalesce(func.sum(Run.bytes_added), 0),
        )
        .join(Job, Job.id == Run.job_id)
        .where(Run.finished_at >= starts[first])
        .group_by(bucket, Job.repository_id, Run.state)
    )
    read: dict[int, list[tuple[int, str, int, int, int]]] = {}
    for index, repository_id, state, count, bytes_read, bytes_added in session.execute(statement):
        if first <= index < len(starts):
            row = (int(repository_id), RunState(state).value, int(count), int(bytes_read), int(bytes_added))
            read.setdefault(index, []).append(row)
    return read


def _day_figures(starts: list[datetime], cells: _Cells) -> list[DayFigures]:
    """Return the figures of each day, oldest first, summed over the repositories."""
    counts = [[0, 0, 0, 0, 0, 0] for _ in starts]
    columns = {RunState.SUCCEEDED.value: 1, RunState.PARTIAL.value: 2, RunState.FAILED.value: 3}
    for (index, _repository_id, state), (count, bytes_read, bytes_added) in cells.items():
        figures = counts[index]
        figures[0] += count
        column = columns.get(state)
        if column is not None:
            figures[column] += count
        figures[4] += bytes_read
        figures[5] += bytes_added
    return [DayFigures(start.date(), *counts[index]) for index, start in enumerate(starts)]


def _repository_figures(session: Session, cells: _Cells) -> list[RepositoryBytes]:
    """Return the runs and bytes of the days per repository, every repository by name."""
    totals: dict[int, list[int]] = {}
    for (_index, repository_id, _state), (count, bytes_read, bytes_added) in cells.items():
        total = totals.setdefault(repository_id, [0, 0, 0])
        total[0] += count
        total[1] += bytes_read
        total[2] += bytes_added
    names = select(Repository.id, Repository.name).order_by(Repository.name)
    result = []
    for repository_id, name in session.execute(names):
        runs, bytes_read, bytes_added = totals.get(repository_id, [0, 0, 0])
        result.append(RepositoryBytes(repository_id, name, bytes_read, bytes_added, runs))
    return result
