"""The scheduling loop: read the jobs from the catalog, ask the pure scheduler what is due, queue it.

One pass (:func:`schedule_pass`) builds a :class:`~resguardo.jobs.scheduler.JobState` per job, calls
:func:`~resguardo.jobs.scheduler.plan`, and queues each due run with the catalog's conditional
:func:`~resguardo.catalog.queries.queue_due_run`: several scheduling loops may run at once (one per
``resguardo worker``), and a slot is still queued once. A job whose stored schedule cannot be read is
skipped and named in the pass's result; the other jobs are not held up by it.

After its first pass a loop moves what the process holds so far (the schedules it read, the modules,
the catalog's metadata) out of reach of Python's garbage collector (:func:`settle_memory`): those objects
live as long as the process, and scanning them again in every full collection made one pass in twenty
take twice as long.

A running loop keeps a :class:`ScheduleCache`: a job's schedule is read from its document once, and
again only when the job changed (its plan version moves whenever its schedule does), so that a pass
over thousands of jobs costs little more than reading their rows.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import RunTrigger, queries
from resguardo.catalog.queries import SchedulingRow
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.jobs.scheduler import JobState, Trigger, plan
from resguardo.jobs.verification_schedule import schedule_verifications
from resguardo.schedules import InvalidSchedule, Schedule, anchored_schedule_document, schedule_from_dict

DEFAULT_PASS_INTERVAL = 30.0
"""Seconds between two scheduling passes of a running service."""


@dataclass
class PassResult:
    """What one scheduling pass did.

    Attributes:
        queued: the IDs of the runs it queued.
        lost: how many due runs another scheduler (or a change of the job) queued or changed first.
        unreadable: (job name, message) of jobs whose schedule could not be read; they were skipped.
        verifications: the IDs of the verifications it queued (scrubs, restore tests).
    """

    queued: list[int] = field(default_factory=list)
    lost: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    verifications: list[int] = field(default_factory=list)


class ScheduleCache:
    """The schedule of each job, read from its document once per version of the job.

    An entry holds the job's plan version and effective date with its schedule; any change of the
    schedule bumps the plan version (queuing a run does too), so a stale entry is never used, and there
    is at most one entry per job. Lookups may come from several threads (the dashboard's requests): a
    race costs a second reading of a document, nothing more. :meth:`end_pass` is for one loop's thread.
    """

    def __init__(self) -> None:
        self._schedules: dict[int, tuple[int, datetime, Schedule]] = {}
        self._seen: set[int] = set()

    def schedule_of(self, row: SchedulingRow) -> Schedule:
        """Return the schedule of ``row``'s job, read from its document on a miss. Raises InvalidSchedule."""
        self._seen.add(row.job_id)
        entry = self._schedules.get(row.job_id)
        if entry is not None and entry[0] == row.plan_version and entry[1] == row.effective_since:
            return entry[2]
        schedule = schedule_from_dict(anchored_schedule_document(row.schedule, row.effective_since))
        self._schedules[row.job_id] = (row.plan_version, row.effective_since, schedule)
        return schedule

    def end_pass(self) -> None:
        """Forget the jobs this pass did not see (removed ones)."""
        self._schedules = {job: entry for job, entry in self._schedules.items() if job in self._seen}
        self._seen = set()

    def __len__(self) -> int:
        return len(self._schedules)


def job_state(row: SchedulingRow, cache: ScheduleCache) -> JobState:
    """Return the scheduler's view of a catalog job, its schedule read through ``cache``.

    Raises:
        InvalidSchedule: the stored schedule cannot be read.
    """
    return JobState(
        job_id=row.job_id,
        schedule=cache.schedule_of(row),
        effective_since=row.effective_since,
        last_scheduled_slot=row.last_scheduled_slot,
        paused=row.paused,
        run_in_progress=row.run_in_progress,
        run_now_requested_at=row.run_now_requested_at,
    )


def schedule_pass(
    session_factory: sessionmaker[Session], now: datetime, cache: ScheduleCache | None = None
) -> PassResult:
    """Queue the runs due at ``now`` (timezone-aware); return what was done. Each run is its own commit.

    ``cache`` keeps the schedules read for the next pass (a loop passes the same one each time).
    """
    cache = cache if cache is not None else ScheduleCache()
    result = PassResult()
    with session_factory() as session:
        rows = {row.job_id: row for row in queries.scheduling_rows(session)}
        session.rollback()
        states = []
        for row in rows.values():
            try:
                states.append(job_state(row, cache))
            except InvalidSchedule as error:
                result.unreadable.append((row.name, str(error)))
        for due in plan(states, now):
            run = queries.queue_due_run(
                session,
                rows[int(due.job_id)],
                scheduled_for=due.scheduled_for,
                trigger=RunTrigger.MANUAL if due.trigger is Trigger.MANUAL else RunTrigger.SCHEDULED,
                schedule_slot=due.schedule_slot,
                answers_request=due.trigger is Trigger.MANUAL,
                now=now,
            )
            if run is None:
                result.lost += 1
            else:
                result.queued.append(run.id)
    cache.end_pass()
    result.verifications = schedule_verifications(session_factory, now)
    return result


def settle_memory() -> None:
    """Move every object the process holds now to the garbage collector's permanent generation.

    For a long-running process after its start-up: later full collections no longer scan them. An object
    of these that becomes garbage later is only freed when the process ends (a few schedules replaced).
    """
    gc.collect()
    gc.freeze()


def scheduling_loop(
    session_factory: sessionmaker[Session],
    stop: threading.Event,
    *,
    clock: Clock = SYSTEM_CLOCK,
    interval: float = DEFAULT_PASS_INTERVAL,
    on_pass: Callable[[PassResult], None] | None = None,
) -> None:
    """Run a scheduling pass every ``interval`` seconds until ``stop`` is set.

    ``on_pass`` receives each pass's result (for a log). A pass that fails on a database error is
    reported as such by the exception escaping: the caller decides whether to restart the loop.
    """
    cache = ScheduleCache()
    first = True
    while not stop.is_set():
        result = schedule_pass(session_factory, clock.now(), cache)
        if first:
            settle_memory()
            first = False
        if on_pass is not None:
            on_pass(result)
        stop.wait(interval)
