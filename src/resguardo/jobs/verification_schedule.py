"""Queuing the verifications that are due: a scrub per repository and a restore test per job.

Each subject's schedule is planned by the same pure function as the runs
(:func:`resguardo.jobs.scheduler.due_run`): a slot is queued once (the subject's last slot is moved
forward conditionally, and the register's unique ``(subject, schedule_slot)`` index refuses a second
row), missed slots are caught up with one verification, and a subject with a verification queued or
running gets no other.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import VerificationTrigger, queries
from resguardo.catalog.queries import VerificationScheduleRow
from resguardo.jobs.scheduler import JobState, due_run, next_run
from resguardo.schedules import InvalidSchedule, Schedule, anchored_schedule_document, schedule_from_dict


@functools.lru_cache(maxsize=65536)
def parsed_schedule(text: str, effective_since: datetime) -> Schedule:
    """Return the schedule of a stored document (JSON text) anchored at ``effective_since``; kept, so
    that a pass over thousands of subjects parses each schedule once. Raises InvalidSchedule."""
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidSchedule("schedule", "the stored schedule is not JSON") from None
    return schedule_from_dict(anchored_schedule_document(document, effective_since))


@functools.lru_cache(maxsize=65536)
def first_slot_after(text: str, effective_since: datetime, reference: datetime) -> datetime:
    """Return the first slot of a stored schedule after ``reference``; kept, so that a steady pass over
    thousands of subjects with nothing due computes no slot at all. Raises InvalidSchedule."""
    return parsed_schedule(text, effective_since).first_slot_after(reference)


def may_be_due(row: VerificationScheduleRow, now: datetime) -> bool:
    """Return False when the subject is certainly not due at ``now`` (busy, or its next slot is later);
    True when the planner must look. Raises InvalidSchedule."""
    if row.busy:
        return False
    reference = row.effective_since
    if row.last_slot is not None and row.last_slot >= reference:
        reference = row.last_slot
    return first_slot_after(row.schedule_text, row.effective_since, reference) <= now


def verification_state(row: VerificationScheduleRow) -> JobState:
    """Return the scheduler's view of a verification subject. Raises InvalidSchedule."""
    schedule = parsed_schedule(row.schedule_text, row.effective_since)
    return JobState(
        job_id=row.subject,
        schedule=schedule,
        effective_since=row.effective_since,
        last_scheduled_slot=row.last_slot,
        run_in_progress=row.busy,
    )


def next_verification(row: VerificationScheduleRow, now: datetime) -> datetime | None:
    """Return when the subject's next verification is due (None: its schedule cannot be read)."""
    try:
        return next_run(verification_state(row), now)
    except InvalidSchedule:
        return None


def schedule_verifications(session_factory: sessionmaker[Session], now: datetime) -> list[int]:
    """Queue the verifications due at ``now``, each in its own commit; return their IDs."""
    queued = []
    with session_factory() as session:
        rows = queries.verification_schedule_rows(session)
        session.rollback()
        for row in rows:
            try:
                due = due_run(verification_state(row), now) if may_be_due(row, now) else None
            except InvalidSchedule:
                continue
            if due is None or due.schedule_slot is None:
                continue
            if not queries.take_verification_slot(session, row, due.schedule_slot):
                session.rollback()
                continue
            request = queries.VerificationRequest(
                row.kind,
                row.repository_id,
                row.job_id,
                VerificationTrigger.SCHEDULE,
                "scheduler",
                schedule_slot=due.schedule_slot,
            )
            verification = queries.queue_verification(session, request, now)
            if verification is None:
                session.rollback()
                continue
            session.commit()
            queued.append(verification.id)
    return queued
