"""The register of verifications: queue, claim, heartbeat, finish, fail the stale, list and read.

A verification is queued by the scheduler (once per slot of its subject's schedule: the unique
``(subject, schedule_slot)`` index) or by a person ("verify now"), claimed by one worker (a conditional
UPDATE: two workers never get the same one), kept alive by heartbeats, and finished in one of three
states. A running verification whose worker stops sending heartbeats is failed and queued again once
more (``MAX_ATTEMPTS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from resguardo.catalog.enums import VerificationKind, VerificationState, VerificationTrigger
from resguardo.catalog.models import Job, Verification
from resguardo.catalog.queries._common import Page, get_or_raise, paginate
from resguardo.core.errors import Conflict, UsageError

MAX_ATTEMPTS = 2
"""A verification lost with its worker is queued again until it has been tried this many times."""


def subject_of(kind: VerificationKind, repository_id: int, job_id: int | None) -> str:
    """Return the subject key of a verification: ``repository:ID`` for a scrub, ``job:ID`` for a test."""
    return f"repository:{repository_id}" if kind is VerificationKind.SCRUB else f"job:{job_id}"


@dataclass(frozen=True)
class VerificationRequest:
    """What to verify and why: a scrub of ``repository_id``, or a restore test of ``job_id``."""

    kind: VerificationKind
    repository_id: int
    job_id: int | None = None
    trigger: VerificationTrigger = VerificationTrigger.MANUAL
    requested_by: str = ""
    schedule_slot: datetime | None = None
    attempt: int = 1


def queue_verification(session: Session, request: VerificationRequest, now: datetime) -> Verification | None:
    """Queue a verification and flush; return it, or None when its schedule slot was queued already.

    Raises:
        UsageError: a restore test without a job.
    """
    if request.kind is VerificationKind.RESTORE_TEST and request.job_id is None:
        raise UsageError("a restore test needs a job")
    record = Verification(
        kind=request.kind,
        subject=subject_of(request.kind, request.repository_id, request.job_id),
        repository_id=request.repository_id,
        job_id=request.job_id,
        trigger=request.trigger,
        requested_by=request.requested_by,
        state=VerificationState.QUEUED,
        attempt=request.attempt,
        schedule_slot=request.schedule_slot,
        queued_at=now,
        bytes_read=0,
        packs_read=0,
        files_restored=0,
        summary="",
        evidence={},
        error="",
    )
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        return None
    return record


def get_verification(session: Session, verification_id: int) -> Verification:
    """Return a verification. Raises NotFound."""
    return get_or_raise(session, Verification, verification_id, "verification")


@dataclass(frozen=True)
class VerificationFilter:
    """Which verifications a listing shows (None: any)."""

    kind: VerificationKind | None = None
    repository_id: int | None = None
    job_id: int | None = None
    state: VerificationState | None = None
    since: datetime | None = None
    until: datetime | None = None


def verification_statement(chosen: VerificationFilter) -> Select[Verification]:
    """Return the SELECT of the verifications ``chosen`` lets through, newest first."""
    statement: Any = select(Verification).order_by(Verification.queued_at.desc(), Verification.id.desc())
    equal = (
        (Verification.kind, chosen.kind),
        (Verification.repository_id, chosen.repository_id),
        (Verification.job_id, chosen.job_id),
        (Verification.state, chosen.state),
    )
    for column, value in equal:
        if value is not None:
            statement = statement.where(column == value)
    if chosen.since is not None:
        statement = statement.where(Verification.queued_at >= chosen.since)
    if chosen.until is not None:
        statement = statement.where(Verification.queued_at < chosen.until)
    return cast(Select[Verification], statement)


def list_verifications(
    session: Session, chosen: VerificationFilter, offset: int = 0, limit: int = 50
) -> Page[Verification]:
    """Return one page of the register, newest first. Raises UsageError (bad page arguments)."""
    return paginate(session, verification_statement(chosen), offset, limit)


def pending_subjects(session: Session) -> set[str]:
    """Return the subjects that have a verification queued or running."""
    busy = (VerificationState.QUEUED, VerificationState.RUNNING)
    return set(session.scalars(select(Verification.subject).where(Verification.state.in_(busy))))


def claim_next_verification(session: Session, worker_id: str, now: datetime) -> Verification | None:
    """Claim the oldest queued verification for ``worker_id`` and commit; return it, or None.

    Raises:
        UsageError: an empty worker ID.
    """
    if not worker_id:
        raise UsageError("a worker needs an ID to claim verifications")
    candidates = list(
        session.scalars(
            select(Verification.id)
            .where(Verification.state == VerificationState.QUEUED)
            .order_by(Verification.id)
            .limit(8)
        )
    )
    for verification_id in candidates:
        if claim_verification(session, verification_id, worker_id, now):
            return session.get(Verification, verification_id, populate_existing=True)
    session.rollback()
    return None


def claim_verification(session: Session, verification_id: int, worker_id: str, now: datetime) -> bool:
    """Claim the queued verification ``verification_id`` for ``worker_id``; commit; return whether it was
    still queued (and is now this worker's)."""
    statement = (
        update(Verification)
        .where(Verification.id == verification_id, Verification.state == VerificationState.QUEUED)
        .values(state=VerificationState.RUNNING, worker_id=worker_id, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount == 1:
        session.commit()
        return True
    session.rollback()
    return False


def update_own_verification(
    session: Session, verification_id: int, worker_id: str, values: dict[str, Any]
) -> None:
    """Write ``values`` to a verification this worker runs.

    Raises:
        Conflict: it is not running on ``worker_id`` any more (failed as stale); stop working on it.
    """
    statement = (
        update(Verification)
        .where(
            Verification.id == verification_id,
            Verification.state == VerificationState.RUNNING,
            Verification.worker_id == worker_id,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
        raise Conflict(
            f"verification {verification_id} is not running on worker {worker_id} any more",
            "stop working on it: it was failed as stale and queued again",
        )
    session.expire_all()


def fail_stale_verifications(session: Session, now: datetime, timeout: timedelta) -> list[Verification]:
    """Fail the running verifications without a heartbeat for ``timeout``, queue each again while it has
    attempts left (:data:`MAX_ATTEMPTS`), and flush; return the failed ones."""
    cutoff = now - timeout
    stale = list(
        session.scalars(
            select(Verification)
            .where(Verification.state == VerificationState.RUNNING, Verification.heartbeat_at < cutoff)
            .order_by(Verification.id)
        )
    )
    failed = []
    for record in stale:
        message = f"worker {record.worker_id} stopped reporting: no heartbeat since {record.heartbeat_at}"
        statement = (
            update(Verification)
            .where(
                Verification.id == record.id,
                Verification.state == VerificationState.RUNNING,
                Verification.heartbeat_at < cutoff,
            )
            .values(state=VerificationState.FAILED, finished_at=now, error=message, summary=message)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
            continue
        session.refresh(record)
        failed.append(record)
        if record.attempt < MAX_ATTEMPTS:
            again = VerificationRequest(
                record.kind,
                record.repository_id,
                record.job_id,
                record.trigger,
                record.requested_by,
                attempt=record.attempt + 1,
            )
            queue_verification(session, again, now)
    session.flush()
    return failed


def job_names(session: Session, job_ids: set[int]) -> dict[int, str]:
    """Return the names of the jobs ``job_ids`` (those that exist)."""
    if not job_ids:
        return {}
    return {row[0]: row[1] for row in session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids)))}
