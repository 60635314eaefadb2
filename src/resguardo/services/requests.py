"""What a person asks of the service through a face: "run now"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from resguardo.catalog import queries
from resguardo.catalog.models import Job, User


def request_run_now(session: Session, job_id: int, user: User | None, now: datetime) -> Job:
    """Ask for one run of a job at the next scheduler pass, record it in the audit log, and commit.

    Args:
        session: a catalog session with no pending work.
        job_id: the job to run.
        user: who asks; None for the service itself (the CLI on the catalog's host).
        now: the time of the request.

    Returns:
        The job, its ``run_now_requested_at`` set (a request already waiting is kept: it gives one run).

    Raises:
        NotFound: no such job.
        Conflict: the job is paused.
    """
    job = queries.request_run_now(session, job_id, now)
    queries.record_audit(
        session,
        actor=user,
        action="job.run_now",
        object_type="job",
        object_id=job.id,
        now=now,
    )
    session.commit()
    return job
