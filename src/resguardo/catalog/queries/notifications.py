"""The e-mail outbox: queue a message, claim a due one for sending, record how the attempt went, list,
and retry one given up.

A sender claims a message with one conditional UPDATE (:func:`claim_notification`): it counts the
attempt and moves ``next_attempt_at`` a lease ahead, on the condition that the message is still queued,
due, and at the attempt count the sender read. Two senders that read the same message race on that
UPDATE and one only wins (PostgreSQL re-checks the condition on the row the other changed; SQLite runs
one write at a time). A sender that dies after its claim leaves the message queued: it is due again
when the lease ends, and sent then (possibly a second time, never lost).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from resguardo.catalog.enums import Language, NotificationState, Role, RunState
from resguardo.catalog.models import Notification, Run, User, UserRole
from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE, Page, get_or_raise, paginate
from resguardo.core.errors import Conflict

ERROR_LENGTH = 2000


def queue_notification(
    session: Session,
    *,
    event: str,
    recipient: str,
    language: Language,
    subject: str,
    body: str,
    data: dict[str, Any],
    now: datetime,
    user_id: int | None = None,
    job_id: int | None = None,
    run_id: int | None = None,
) -> Notification:
    """Add a queued message, due now, to the outbox in the session's transaction; flush and return it."""
    message = Notification(
        event=event,
        recipient=recipient,
        language=language,
        subject=subject[:255],
        body=body,
        data=data,
        state=NotificationState.QUEUED,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        created_at=now,
        user_id=user_id,
        job_id=job_id,
        run_id=run_id,
    )
    session.add(message)
    session.flush()
    return message


def due_notification_ids(session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
    """Return up to ``limit`` (ID, attempts) of queued messages due at ``now``, oldest first."""
    statement = (
        select(Notification.id, Notification.attempts)
        .where(Notification.state == NotificationState.QUEUED, Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in session.execute(statement)]


def claim_notification(  # noqa: PLR0917 (each argument names a part of the claim)
    session: Session, notification_id: int, attempts: int, sender_id: str, now: datetime, lease: timedelta
) -> bool:
    """Claim a due queued message seen at ``attempts`` for ``sender_id`` and commit; return True when
    this sender won it (the attempt is counted, and it is not due again before ``now + lease``)."""
    statement = (
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.state == NotificationState.QUEUED,
            Notification.attempts == attempts,
            Notification.next_attempt_at <= now,
        )
        .values(attempts=attempts + 1, next_attempt_at=now + lease, claimed_by=sender_id)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(statement))
    won = result.rowcount == 1
    if won:
        session.commit()
    else:
        session.rollback()
    return won


def record_attempt(  # noqa: PLR0917 (each argument names a part of the outcome)
    session: Session,
    notification_id: int,
    sender_id: str,
    now: datetime,
    error: str | None,
    retry_at: datetime | None,
) -> Notification | None:
    """Record how a claimed message's attempt went and flush: sent (``error`` None), queued again for
    ``retry_at``, or failed for good (``retry_at`` None). Return the message, or None when another
    sender claimed it since (its lease ran out), in which case nothing is changed."""
    message = session.get(Notification, notification_id, populate_existing=True)
    if message is None or message.claimed_by != sender_id or message.state != NotificationState.QUEUED:
        return None
    message.claimed_by = None
    if error is None:
        message.state = NotificationState.SENT
        message.sent_at = now
        message.last_error = ""
    else:
        message.last_error = error[:ERROR_LENGTH]
        if retry_at is None:
            message.state = NotificationState.FAILED
        else:
            message.next_attempt_at = retry_at
    session.flush()
    return message


def get_notification(session: Session, notification_id: int) -> Notification:
    """Return the message ``notification_id``. Raises NotFound."""
    return get_or_raise(session, Notification, notification_id, "notification")


def list_notifications(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    state: NotificationState | None = None,
) -> Page[Notification]:
    """Return a page of the outbox, newest first (of one state when given).

    Raises:
        UsageError: bad pagination arguments.
    """
    statement = select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc())
    if state is not None:
        statement = statement.where(Notification.state == state)
    return paginate(session, statement, offset, limit)


def retry_notification(session: Session, notification_id: int, now: datetime) -> Notification:
    """Queue a failed message again, due now, with its attempts counted from zero; flush and return it.

    Raises:
        NotFound: no such message. Conflict: it is not failed (queued ones are tried anyway; sent ones
            are not sent twice).
    """
    message = get_notification(session, notification_id)
    if message.state != NotificationState.FAILED:
        raise Conflict(
            f"notification {notification_id} is {message.state.value}, not failed",
            "only failed messages are retried; queued ones are sent on their own",
        )
    message.state = NotificationState.QUEUED
    message.attempts = 0
    message.next_attempt_at = now
    message.claimed_by = None
    session.flush()
    return message


def users_to_notify(session: Session, roles: frozenset[Role], *, failures: bool = False) -> list[User]:
    """Return the active users holding any of ``roles`` with an e-mail address, by username (only those
    who receive failure messages when ``failures``)."""
    statement = (
        select(User)
        .where(
            User.active.is_(True),
            User.email != "",
            User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(sorted(roles)))),
        )
        .order_by(User.username)
    )
    if failures:
        statement = statement.where(User.notify_failures.is_(True))
    return list(session.scalars(statement))


def last_job_notification(session: Session, job_id: int, event: str) -> Notification | None:
    """Return the newest message of ``event`` about the job ``job_id``, if any."""
    statement = (
        select(Notification)
        .where(Notification.job_id == job_id, Notification.event == event)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def failed_runs_since(session: Session, job_id: int, since: datetime, but: Collection[int]) -> int:
    """Return how many runs of the job failed at or after ``since``, the runs ``but`` left out."""
    statement = select(func.count(Run.id)).where(
        Run.job_id == job_id, Run.state == RunState.FAILED, Run.finished_at >= since, Run.id.not_in(list(but))
    )
    return session.scalar(statement) or 0


def previous_finished_run(session: Session, run: Run) -> Run | None:
    """Return the job's run that finished last before ``run`` (cancelled ones left out), if any."""
    statement = (
        select(Run)
        .where(
            Run.job_id == run.job_id,
            Run.id != run.id,
            Run.state.in_([RunState.SUCCEEDED, RunState.PARTIAL, RunState.FAILED]),
        )
        .order_by(Run.finished_at.desc(), Run.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()
