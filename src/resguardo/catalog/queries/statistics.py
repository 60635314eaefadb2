"""Figures over the runs for monitoring: runs by state, bytes per repository, last run and success per job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from resguardo.catalog.enums import RunState
from resguardo.catalog.models import Job, Repository, Run


@dataclass(frozen=True)
class JobFigures:
    """One job's last finished run (its duration, in seconds) and last success."""

    job_name: str
    last_duration_seconds: float | None
    last_success_at: datetime | None


@dataclass(frozen=True)
class RunStatistics:
    """What /metrics shows."""

    runs_by_state: dict[str, int]
    bytes_read_by_repository: dict[str, int]
    bytes_added_by_repository: dict[str, int]
    jobs: list[JobFigures]


def run_statistics(session: Session) -> RunStatistics:
    """Return the run figures of the whole catalog (a handful of grouped queries)."""
    by_state = {state.value: 0 for state in RunState}
    for state, count in session.execute(select(Run.state, func.count()).group_by(Run.state)):
        by_state[RunState(state).value] = count
    bytes_read: dict[str, int] = {}
    bytes_added: dict[str, int] = {}
    totals = (
        select(
            Repository.name,
            func.coalesce(func.sum(Run.bytes_read), 0),
            func.coalesce(func.sum(Run.bytes_added), 0),
        )
        .join(Job, Job.repository_id == Repository.id)
        .join(Run, Run.job_id == Job.id)
        .group_by(Repository.name)
    )
    for name, read, added in session.execute(totals):
        bytes_read[name], bytes_added[name] = int(read), int(added)
    return RunStatistics(by_state, bytes_read, bytes_added, _job_figures(session))


def _job_figures(session: Session) -> list[JobFigures]:
    last_success = dict(
        session.execute(
            select(Run.job_id, func.max(Run.finished_at))
            .where(Run.state == RunState.SUCCEEDED)
            .group_by(Run.job_id)
        ).all()
    )
    last_finished_ids = select(func.max(Run.id)).where(Run.finished_at.is_not(None)).group_by(Run.job_id)
    durations: dict[int, float] = {}
    for run in session.scalars(select(Run).where(Run.id.in_(last_finished_ids))):
        if run.started_at is not None and run.finished_at is not None:
            durations[run.job_id] = (run.finished_at - run.started_at).total_seconds()
    figures = []
    for job_id, name in session.execute(select(Job.id, Job.name).order_by(Job.name)):
        success = last_success.get(job_id)
        if success is not None and success.tzinfo is None:
            from datetime import UTC

            success = success.replace(tzinfo=UTC)
        figures.append(JobFigures(name, durations.get(job_id), success))
    return figures
