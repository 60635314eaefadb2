"""What periodic verification keeps beside its register: schedules and their last slots, the scrub's
progress, runs found damaged, and the database servers restore tests restore into."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Text, exists, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from resguardo.catalog.enums import VerificationKind
from resguardo.catalog.models import Job, Repository, RestoreTestServer, Run
from resguardo.catalog.models.verifications import (
    DEFAULT_RESTORE_TEST_SCHEDULE,
    DEFAULT_VERIFICATION_SCHEDULE,
)
from resguardo.catalog.queries._common import get_or_raise
from resguardo.catalog.queries._sealed import open_sealed
from resguardo.catalog.queries.verifications import pending_subjects, subject_of
from resguardo.catalog.secrets import SecretKey
from resguardo.core.errors import NotFound, UsageError
from resguardo.schedules import checked_schedule_document

RESTORE_TEST_SERVER_KINDS = ("postgresql", "mysql")


DEFAULT_SCHEDULE_TEXT = {
    VerificationKind.SCRUB: json.dumps(DEFAULT_VERIFICATION_SCHEDULE, sort_keys=True),
    VerificationKind.RESTORE_TEST: json.dumps(DEFAULT_RESTORE_TEST_SCHEDULE, sort_keys=True),
}
"""The default schedules as the catalog stores documents (JSON text, keys sorted)."""


@dataclass(frozen=True)
class VerificationScheduleRow:
    """What the scheduler needs of one subject: a repository (scrubs) or a job (restore tests).

    ``schedule_text`` is the schedule document as stored (JSON text; the default one when none is set),
    so that a scheduler can keep the schedules it parsed by their text.
    """

    kind: VerificationKind
    repository_id: int
    job_id: int | None
    name: str
    schedule_text: str
    effective_since: datetime
    last_slot: datetime | None
    busy: bool

    @property
    def subject(self) -> str:
        """Return the subject key (``repository:ID`` or ``job:ID``)."""
        return subject_of(self.kind, self.repository_id, self.job_id)


def verification_schedule_rows(session: Session) -> list[VerificationScheduleRow]:
    """Return a row per repository (its scrub) and per job not paused that saved a backup (its restore
    test: a job with nothing to restore is not tested, and its first test comes after its first
    backup), reading only the columns needed (a scheduling pass runs every half minute over every job)."""
    busy = pending_subjects(session)
    scrub, test = VerificationKind.SCRUB, VerificationKind.RESTORE_TEST
    repositories = select(
        Repository.id,
        Repository.name,
        type_coerce(Repository.verification_schedule, Text),
        Repository.created_at,
        Repository.verification_last_slot,
    ).order_by(Repository.id)
    jobs = (
        select(
            Job.id,
            Job.repository_id,
            Job.name,
            type_coerce(Job.restore_test_schedule, Text),
            Job.created_at,
            Job.restore_test_last_slot,
        )
        .where(Job.paused.is_(False))
        .where(exists().where(Run.job_id == Job.id, Run.snapshot_id.is_not(None)))
        .order_by(Job.id)
    )
    rows = [
        VerificationScheduleRow(
            scrub, identity, None, name, text or DEFAULT_SCHEDULE_TEXT[scrub], created, last, False
        )
        for identity, name, text, created, last in session.execute(repositories)
    ]
    rows.extend(
        VerificationScheduleRow(
            test, repository_id, identity, name, text or DEFAULT_SCHEDULE_TEXT[test], created, last, False
        )
        for identity, repository_id, name, text, created, last in session.execute(jobs)
    )
    return [replace(row, busy=True) if row.subject in busy else row for row in rows]


def take_verification_slot(session: Session, row: VerificationScheduleRow, slot: datetime) -> bool:
    """Record ``slot`` as the subject's last slot unless a later one is recorded; return whether it was."""
    model: Any = Repository if row.kind is VerificationKind.SCRUB else Job
    column = model.verification_last_slot if model is Repository else model.restore_test_last_slot
    identity = row.repository_id if model is Repository else row.job_id
    statement = (
        update(model)
        .where(model.id == identity, or_(column.is_(None), column < slot))
        .values({column.key: slot})
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def save_scrub_progress(session: Session, repository_id: int, progress: dict[str, Any]) -> None:
    """Store the scrub's progress through its cycle for ``repository_id`` (flushes)."""
    statement = (
        update(Repository)
        .where(Repository.id == repository_id)
        .values(scrub_progress=progress)
        .execution_options(synchronize_session=False)
    )
    session.execute(statement)
    session.flush()


@dataclass(frozen=True)
class DamagedRun:
    """A run whose snapshot a verification found damaged."""

    run_id: int
    job_id: int
    job: str
    snapshot_id: str


def mark_damaged_runs(
    session: Session, repository_id: int, damage: dict[str, str], now: datetime
) -> list[DamagedRun]:
    """Mark the runs (of jobs of ``repository_id``) whose snapshot is in ``damage`` (short or full ID ->
    what is damaged) as damaged at ``now``; flush; return them."""
    if not damage:
        return []
    statement = (
        select(Run, Job.name)
        .join(Job, Job.id == Run.job_id)
        .where(Job.repository_id == repository_id, Run.snapshot_id.is_not(None))
    )
    marked = []
    for run, job_name in session.execute(statement).all():
        snapshot = str(run.snapshot_id)
        found = next((text for key, text in damage.items() if snapshot.startswith(key)), None)
        if found is None:
            continue
        run.damaged_at = run.damaged_at or now
        run.damage = found[:4000]
        marked.append(DamagedRun(run.id, run.job_id, job_name, snapshot))
    session.flush()
    return marked


def latest_snapshot_run(session: Session, job_id: int) -> Run | None:
    """Return the newest finished run of a job that saved a snapshot (None: none did)."""
    statement = (
        select(Run)
        .where(Run.job_id == job_id, Run.snapshot_id.is_not(None))
        .order_by(Run.finished_at.desc(), Run.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def set_restore_test_server(  # noqa: PLR0917 (each argument names a part of what is stored)
    session: Session, key: SecretKey, kind: str, url: str, password: str, now: datetime, by: str
) -> RestoreTestServer:
    """Set the database server restore tests of ``kind`` restore into; seal ``password`` (may be empty).

    Raises:
        UsageError: an unknown kind, an empty URL, or a URL holding a password.
    """
    if kind not in RESTORE_TEST_SERVER_KINDS:
        raise UsageError(
            f"unknown database kind {kind!r}", f"use one of {', '.join(RESTORE_TEST_SERVER_KINDS)}"
        )
    if not url.startswith(f"{kind}://"):
        raise UsageError(f"the URL of a {kind} test server must start with {kind}://")
    if "@" in url.split("://", 1)[1].split("/", 1)[0] and ":" in url.split("://", 1)[1].split("@", 1)[0]:
        raise UsageError("the URL must not hold a password", "give the password apart; it is sealed")
    record = session.get(RestoreTestServer, kind)
    if record is None:
        record = RestoreTestServer(kind=kind)
        session.add(record)
    record.url = url
    record.key_id = key.key_id if password else ""
    record.sealed = key.seal(password, _context(kind)) if password else None
    record.updated_at = now
    record.updated_by = by
    session.flush()
    return record


def list_restore_test_servers(session: Session) -> list[RestoreTestServer]:
    """Return the restore-test servers, by kind."""
    return list(session.scalars(select(RestoreTestServer).order_by(RestoreTestServer.kind)))


def remove_restore_test_server(session: Session, kind: str) -> RestoreTestServer:
    """Remove the restore-test server of ``kind`` (and its sealed password); flush; return what it was.

    Raises:
        NotFound: none is configured for ``kind``.
    """
    record = session.get(RestoreTestServer, kind)
    if record is None:
        raise NotFound(f"no {kind} server is configured for restore tests", "see the servers that are set")
    session.delete(record)
    session.flush()
    return record


def restore_test_server(session: Session, key: SecretKey, kind: str) -> tuple[str, str]:
    """Return (URL, password) of the restore-test server of ``kind``.

    Raises:
        NotFound: none is configured.
        SecretKeyError: the catalog key does not open its password.
    """
    record = session.get(RestoreTestServer, kind)
    if record is None:
        raise NotFound(
            f"no {kind} server is configured for restore tests",
            f"set one: PUT /api/v1/verification-servers/{kind} (a scratch server, not production)",
        )
    if record.sealed is None:
        return record.url, ""
    return record.url, open_sealed(key, record, _context(kind), f"password of the {kind} test server")


def _context(kind: str) -> bytes:
    return f"restore-test-server:{kind}".encode()


MAX_SCRUB_PERIOD_DAYS = 3660
MAX_SAMPLE_FILES = 1_000_000


def set_repository_verification(
    session: Session,
    repository_id: int,
    *,
    schedule: Mapping[str, Any] | None = None,
    period_days: int | None = None,
) -> Repository:
    """Set a repository's scrub schedule and/or period (None: unchanged); flush; return it.

    Raises:
        NotFound: no such repository.
        UsageError: a period out of 1..3660 days; InvalidSchedule: an invalid schedule (its field named).
    """
    record = get_or_raise(session, Repository, repository_id, "repository")
    if schedule is not None:
        record.verification_schedule = checked_schedule_document(dict(schedule))
    if period_days is not None:
        if not 1 <= period_days <= MAX_SCRUB_PERIOD_DAYS:
            raise UsageError(
                f"the scrub period must be from 1 to {MAX_SCRUB_PERIOD_DAYS} days, not {period_days}"
            )
        record.scrub_period_days = period_days
    session.flush()
    return record


def set_job_restore_test(
    session: Session,
    job_id: int,
    *,
    schedule: Mapping[str, Any] | None = None,
    sample_files: int | None = None,
) -> Job:
    """Set a job's restore-test schedule and/or sample size (None: unchanged); flush; return it.

    Raises:
        NotFound: no such job.
        UsageError: a sample size out of range; InvalidSchedule: an invalid schedule.
    """
    job = get_or_raise(session, Job, job_id, "job")
    if schedule is not None:
        job.restore_test_schedule = checked_schedule_document(dict(schedule))
    if sample_files is not None:
        if not 1 <= sample_files <= MAX_SAMPLE_FILES:
            raise UsageError(
                f"the sample size must be from 1 to {MAX_SAMPLE_FILES} files, not {sample_files}"
            )
        job.restore_test_sample_files = sample_files
    session.flush()
    return job
