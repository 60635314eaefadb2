"""The failure log (R18): entries opened by failed runs, analysed by people, closed by a re-run's success."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.catalog.models import FailureEntry, Run, User
from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE, Page, get_or_raise, paginate


def open_failure(session: Session, run: Run, now: datetime) -> FailureEntry:
    """Open the failure entry of a failed run (once per run) and return it."""
    existing = session.scalars(select(FailureEntry).where(FailureEntry.run_id == run.id)).first()
    if existing is not None:
        return existing
    entry = FailureEntry(
        job_id=run.job_id,
        run_id=run.id,
        opened_at=now,
        error=run.error,
        cause="",
        analysis="",
        corrective_action="",
    )
    session.add(entry)
    session.flush()
    return entry


def close_failures(session: Session, job_id: int, run_id: int, now: datetime) -> list[FailureEntry]:
    """Close every open failure entry of a job, recording the successful run that closed it; return them."""
    entries = list(
        session.scalars(
            select(FailureEntry).where(FailureEntry.job_id == job_id, FailureEntry.closed_at.is_(None))
        )
    )
    for entry in entries:
        entry.closed_at = now
        entry.closed_by_run_id = run_id
    session.flush()
    return entries


def record_analysis(
    session: Session,
    entry_id: int,
    *,
    who_id: int,
    now: datetime,
    cause: str | None = None,
    analysis: str | None = None,
    corrective_action: str | None = None,
) -> FailureEntry:
    """Fill in the cause, analysis and corrective action of a failure entry, signed by a user.

    Raises:
        NotFound: no such entry or user.
    """
    entry = get_or_raise(session, FailureEntry, entry_id, "failure entry")
    get_or_raise(session, User, who_id, "user")
    if cause is not None:
        entry.cause = cause
    if analysis is not None:
        entry.analysis = analysis
    if corrective_action is not None:
        entry.corrective_action = corrective_action
    entry.recorded_by_id = who_id
    entry.recorded_at = now
    session.flush()
    return entry


def list_failures(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    job_id: int | None = None,
    open_only: bool = False,
) -> Page[FailureEntry]:
    """Return a page of failure entries, newest first, optionally of one job or only the open ones."""
    statement = select(FailureEntry).order_by(FailureEntry.opened_at.desc(), FailureEntry.id.desc())
    if job_id is not None:
        statement = statement.where(FailureEntry.job_id == job_id)
    if open_only:
        statement = statement.where(FailureEntry.closed_at.is_(None))
    return paginate(session, statement, offset, limit)
