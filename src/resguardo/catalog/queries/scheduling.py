"""The scheduler's side of the catalog: what it needs to know of each job, and queuing what is due.

A scheduler pass reads every job with :func:`scheduling_rows`, lets the pure scheduler decide, then
queues each due run with :func:`queue_due_run`, which is a conditional UPDATE of the job's
``plan_version``: if another scheduler (or a "run now" request) changed the job since this pass read
it, nothing is queued and the next pass decides again. A unique index on ``(job_id, schedule_slot)``
backs this up: a slot is never queued twice. "Run now" is :func:`request_run_now`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Text, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from resguardo.catalog.enums import RunState, RunTrigger
from resguardo.catalog.models import Job, Run
from resguardo.catalog.queries.runs import enqueue_run
from resguardo.core.errors import Conflict

BUSY_STATES = (RunState.QUEUED, RunState.RUNNING)


@dataclass(frozen=True)
class SchedulingRow:
    """One job as the scheduler sees it (plain values, no session needed).

    Attributes:
        job_id, name: the job's ID and name.
        stored_schedule: the schedule document, or its JSON text as stored (read by :attr:`schedule`
            when first asked for: a scheduling loop that knows the job's version never needs it).
        effective_since: when the schedule took effect (``schedule_since``, else the job's creation).
        last_scheduled_slot, run_now_requested_at, paused: the job's scheduler state.
        run_in_progress: a run of the job is queued or running.
        plan_version: the version to pass back to :func:`queue_due_run`.
    """

    job_id: int
    name: str
    stored_schedule: dict[str, Any] | str
    effective_since: datetime
    last_scheduled_slot: datetime | None
    run_now_requested_at: datetime | None
    paused: bool
    run_in_progress: bool
    plan_version: int

    @functools.cached_property
    def schedule(self) -> dict[str, Any]:
        """Return the schedule document (decoded from its JSON text the first time)."""
        if isinstance(self.stored_schedule, str):
            document: dict[str, Any] = json.loads(self.stored_schedule)
            return document
        return dict(self.stored_schedule)


def scheduling_rows(session: Session) -> list[SchedulingRow]:
    """Return every job's scheduling state, by job ID, in two queries (schedules left as JSON text)."""
    busy = set(session.scalars(select(Run.job_id).where(Run.state.in_(BUSY_STATES)).distinct()))
    rows = session.execute(
        select(
            Job.id,
            Job.name,
            type_coerce(Job.schedule, Text).label("schedule"),
            Job.schedule_since,
            Job.created_at,
            Job.last_scheduled_slot,
            Job.run_now_requested_at,
            Job.paused,
            Job.plan_version,
        ).order_by(Job.id)
    )
    return [
        SchedulingRow(
            job_id=row.id,
            name=row.name,
            stored_schedule=row.schedule,
            effective_since=row.schedule_since or row.created_at,
            last_scheduled_slot=row.last_scheduled_slot,
            run_now_requested_at=row.run_now_requested_at,
            paused=row.paused,
            run_in_progress=row.id in busy,
            plan_version=row.plan_version,
        )
        for row in rows
    ]


def queue_due_run(
    session: Session,
    row: SchedulingRow,
    *,
    scheduled_for: datetime,
    trigger: RunTrigger,
    schedule_slot: datetime | None,
    answers_request: bool,
    now: datetime,
) -> Run | None:
    """Queue a run the scheduler found due for ``row``'s job, unless the job changed since; commit.

    Records ``schedule_slot`` (when given) as the job's last scheduled slot and clears the run-now
    request the run answers, in the same transaction as the new run.

    Returns:
        The queued run, or None when another scheduler (or a request) changed the job first, or the
        slot was queued already.
    """
    values: dict[str, Any] = {"plan_version": row.plan_version + 1}
    if schedule_slot is not None:
        values["last_scheduled_slot"] = schedule_slot
    if answers_request:
        values["run_now_requested_at"] = None
    statement = (
        update(Job)
        .where(Job.id == row.job_id, Job.plan_version == row.plan_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    try:
        if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
            session.rollback()
            return None
        run = enqueue_run(session, row.job_id, trigger=trigger, now=now)
        run.scheduled_for = scheduled_for
        run.schedule_slot = schedule_slot
        session.flush()
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return run


def request_run_now(session: Session, job_id: int, now: datetime) -> Job:
    """Ask for one run of a job at the next scheduler pass ("run now"); flush, and return the job.

    A request already waiting is kept (it gives one run); the caller commits and records the audit entry.

    Raises:
        NotFound: no such job.
        Conflict: the job is paused (a paused job never runs, not even on request).
    """
    from resguardo.catalog.queries.plans import get_job

    job = get_job(session, job_id)
    if job.paused:
        raise Conflict(f"job {job.name!r} is paused", "resume it before asking for a run")
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.run_now_requested_at.is_(None))
        .values(run_now_requested_at=now, plan_version=Job.plan_version + 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(statement)
    session.flush()
    session.refresh(job)
    return job
