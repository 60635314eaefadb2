"""The scheduler: a pure function from the jobs' states and the time to the runs due now.

``plan(jobs, now)`` reads nothing and writes nothing: the catalog builds a ``JobState`` for each job from
its rows, calls ``plan``, and queues each ``DueRun`` returned, in the same transaction recording the run's
``schedule_slot`` as the job's last scheduled slot and clearing a run-now request it answers. The rules:

- A job is due when the first slot of its schedule after its last scheduled slot (or after the moment its
  schedule took effect, whichever is later) is at or before ``now``.
- Missed slots (the service was down, a run was in progress, the window was closed) are caught up once:
  one run, for the latest missed slot, with trigger ``catch_up``; never one run per missed slot.
- A slot already run or queued never runs again: it is at or before the last scheduled slot.
- A paused job never runs, not even on request (the faces refuse "run now" for a paused job).
- A job with a run queued or running gets no other run (at most one run per job).
- Outside the backup window a scheduled run does not start: it waits until the window opens, and is
  then still one run, for the latest slot missed by then.
- A run-now request gives one manual run at once, window or not (an operator asking for a run outside
  the window means it). It also takes the slot that was due, if any, so that the schedule does not start
  a second run right after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from resguardo.schedules import Schedule

JobId = int | str


class Trigger(StrEnum):
    """Why a run was started, as recorded on the run."""

    SCHEDULED = "scheduled"  # the slot it runs for is the first one after the last
    CATCH_UP = "catch_up"  # earlier slots were missed; this one run stands for all of them
    MANUAL = "manual"  # "run now" from the console, the API or the CLI


@dataclass(frozen=True)
class JobState:
    """What the scheduler needs to know of one job; the catalog builds it from its rows.

    Attributes:
        job_id: the job's identifier in the catalog, returned unchanged in its ``DueRun``.
        schedule: the job's schedule, its backup window included (a window set on the client server
            instead can be folded in with ``dataclasses.replace(schedule, window=...)``).
        effective_since: when the schedule took effect (the job was created, or its schedule changed):
            slots at or before it never run. Timezone-aware.
        last_scheduled_slot: the ``schedule_slot`` of the latest run the scheduler queued for this job,
            whatever became of that run (succeeded, failed, cancelled); None if there has been none.
            Manual runs without a slot do not count. Timezone-aware.
        paused: the job is paused: no run at all.
        run_in_progress: a run of the job is queued or running (retries of a failed run included).
        run_now_requested_at: when an operator asked for a run now, if that request is still unanswered.
    """

    job_id: JobId
    schedule: Schedule
    effective_since: datetime
    last_scheduled_slot: datetime | None = None
    paused: bool = False
    run_in_progress: bool = False
    run_now_requested_at: datetime | None = None

    @property
    def reference(self) -> datetime:
        """Return the instant after which the job's next slot lies: its last slot, or when it took effect."""
        if self.last_scheduled_slot is None or self.last_scheduled_slot < self.effective_since:
            return self.effective_since
        return self.last_scheduled_slot


@dataclass(frozen=True)
class DueRun:
    """A run to queue now.

    Attributes:
        job_id: the job's identifier, as given in its ``JobState``.
        scheduled_for: for a scheduled or catch-up run, the slot it runs for; for a manual run, when it
            was requested (UTC).
        trigger: why it runs.
        schedule_slot: the slot this run takes (UTC): store it as the job's ``last_scheduled_slot``. None
            for a manual run when no slot was due.
    """

    job_id: JobId
    scheduled_for: datetime
    trigger: Trigger
    schedule_slot: datetime | None


def plan(jobs: Iterable[JobState], now: datetime) -> list[DueRun]:
    """Return the runs due at ``now``, at most one per job: manual runs first, then by slot.

    Args:
        jobs: the state of every job (each ``job_id`` once).
        now: the current time, timezone-aware.

    Returns:
        The runs to queue; an empty list when nothing is due. Planning again with the returned runs
        recorded (slots stored, requests cleared) at the same ``now`` returns nothing.

    Raises:
        ValueError: ``now`` is naive, or a ``job_id`` is given twice.
    """
    _require_aware(now)
    seen: set[JobId] = set()
    due = []
    for job in jobs:
        if job.job_id in seen:
            raise ValueError(f"job {job.job_id!r} is given twice to the scheduler")
        seen.add(job.job_id)
        run = due_run(job, now)
        if run is not None:
            due.append(run)
    due.sort(key=lambda run: (run.trigger != Trigger.MANUAL, run.scheduled_for))
    return due


def due_run(job: JobState, now: datetime) -> DueRun | None:
    """Return the run of ``job`` due at ``now`` (timezone-aware), or None; the rules are in the module doc."""
    if job.paused or job.run_in_progress:
        return None
    schedule = job.schedule
    first_slot = schedule.first_slot_after(job.reference)
    slot = schedule.last_slot_at_or_before(now) if first_slot <= now else None
    if job.run_now_requested_at is not None:
        return DueRun(job.job_id, _utc(job.run_now_requested_at), Trigger.MANUAL, slot)
    if slot is None or not schedule.window_allows(now):
        return None
    trigger = Trigger.SCHEDULED if slot == first_slot else Trigger.CATCH_UP
    return DueRun(job.job_id, slot, trigger, slot)


def next_run(job: JobState, now: datetime) -> datetime | None:
    """Return when the next run of ``job`` is expected to start, for the dashboard's "next run" column.

    Args:
        job: the job's state.
        now: the current time, timezone-aware.

    Returns:
        None for a paused job; ``now`` when a run is due now, or requested (or due but waiting for the
        run in progress); else the next slot, or the opening of the window after it (UTC).

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now)
    if job.paused:
        return None
    if job.run_now_requested_at is not None:
        return now
    start = max(job.schedule.first_slot_after(job.reference), now)
    return _utc(job.schedule.earliest_start(start))


def _utc(instant: datetime) -> datetime:
    """Return ``instant`` (timezone-aware) expressed in UTC."""
    return instant.astimezone(UTC)


def _require_aware(now: datetime) -> None:
    """Raise ValueError if ``now`` has no time zone."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the scheduler needs a timezone-aware 'now'")
