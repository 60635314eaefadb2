"""Queuing a verification at a person's request ("verify now")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from resguardo.catalog import VerificationKind, VerificationTrigger, queries
from resguardo.catalog.models import Verification
from resguardo.catalog.queries.verifications import pending_subjects, subject_of
from resguardo.core.errors import Conflict, UsageError


def verify_now(
    session: Session,
    *,
    repository_id: int | None,
    job_id: int | None,
    requested_by: str,
    now: datetime,
) -> Verification:
    """Queue a scrub of ``repository_id`` or a restore test of ``job_id`` (exactly one given); flush.

    Raises:
        UsageError: neither or both given.
        NotFound: no such repository or job.
        Conflict: a verification of the same subject is queued or running already.
    """
    if (repository_id is None) == (job_id is None):
        raise UsageError("name either a repository (to scrub it) or a job (to test its restore)")
    if job_id is not None:
        job = queries.get_job(session, job_id)
        kind, repository = VerificationKind.RESTORE_TEST, job.repository_id
    else:
        assert repository_id is not None
        kind, repository = VerificationKind.SCRUB, queries.get_repository(session, repository_id).id
    subject = subject_of(kind, repository, job_id)
    if subject in pending_subjects(session):
        raise Conflict(
            f"a verification of {subject.replace(':', ' ')} is queued or running already",
            "wait for it to finish: GET /api/v1/verifications shows it",
        )
    request = queries.VerificationRequest(kind, repository, job_id, VerificationTrigger.MANUAL, requested_by)
    verification = queries.queue_verification(session, request, now)
    assert verification is not None  # manual verifications take no slot
    return verification
