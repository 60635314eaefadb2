"""The messages about runs: a run failed (to operators and administrators), and a job working again.

At most one failure message per job is queued every ``failure_window_hours`` (a setting): failures
within the window queue nothing, and the next message counts them. A success after a failure queues a
"working again" message when the setting ``notify_recovery`` is on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import queries
from resguardo.catalog.enums import Role, RunState
from resguardo.catalog.models import Job, Notification, NotificationSettings, Run
from resguardo.notify._outbox import Recipient, notify

RUN_FAILED = "run_failed"
RUN_RECOVERED = "run_recovered"
FAILURE_RECIPIENT_ROLES = frozenset({Role.OPERATOR, Role.ADMINISTRATOR})


def notify_run_outcome(session: Session, run_id: int, now: datetime) -> list[Notification]:
    """Queue the messages a finished run calls for, in the session's transaction; return them.

    A failed run queues a failure message unless one was queued for its job within the window; a
    saved backup whose verification warned or failed queues a verification message; a succeeded run
    whose job's previous run failed queues a "working again" message (when enabled).
    Other runs, and any run while notifications are disabled, queue nothing.
    """
    settings = queries.notification_settings(session)
    if not settings.enabled:
        return []
    run = queries.get_run(session, run_id)
    from resguardo.notify._verifications import notify_run_verification

    if run.state is RunState.FAILED:
        return _failure(session, settings, run, now)
    queued = notify_run_verification(session, run, now)
    if run.state is RunState.SUCCEEDED and settings.notify_recovery:
        queued += _recovery(session, run, now)
    return queued


def run_recipients(session: Session) -> list[Recipient]:
    """Return who receives the messages about runs: active operators and administrators with an address
    who did not turn failure messages off."""
    users = queries.users_to_notify(session, FAILURE_RECIPIENT_ROLES, failures=True)
    return [Recipient.of_user(user) for user in users]


def run_data(job: Job, run: Run, console_url: str) -> dict[str, Any]:
    """Return what the messages about ``run`` of ``job`` show of it (JSON-ready)."""
    finished = run.finished_at or run.queued_at
    return {
        "job": job.name,
        "client": job.client.name,
        "repository": job.repository.name,
        "run_id": run.id,
        "attempt": run.attempt,
        "error": run.error,
        "snapshot_id": run.snapshot_id or "",
        "finished_at": finished.strftime("%Y-%m-%d %H:%M:%S"),
        "run_url": f"{console_url}/runs/{run.id}" if console_url else "",
    }


def _failure(session: Session, settings: NotificationSettings, run: Run, now: datetime) -> list[Notification]:
    window = timedelta(hours=settings.failure_window_hours)
    last = queries.last_job_notification(session, run.job_id, RUN_FAILED)
    if last is not None and window and last.created_at > now - window:
        return []
    earlier = 0
    if last is not None:
        but = {run.id} | ({last.run_id} if last.run_id is not None else set())
        earlier = queries.failed_runs_since(session, run.job_id, last.created_at, but)
    job = queries.get_job(session, run.job_id)
    data = run_data(job, run, settings.console_url)
    retry_queued = run.attempt <= job.max_retries
    data.update(
        earlier_failures=earlier, window_hours=settings.failure_window_hours, retry_queued=retry_queued
    )
    return notify(session, RUN_FAILED, run_recipients(session), data, now=now, job_id=job.id, run_id=run.id)


def _recovery(session: Session, run: Run, now: datetime) -> list[Notification]:
    previous = queries.previous_finished_run(session, run)
    if previous is None or previous.state is not RunState.FAILED:
        return []
    job = queries.get_job(session, run.job_id)
    data = run_data(job, run, queries.notification_settings(session).console_url)
    return notify(
        session, RUN_RECOVERED, run_recipients(session), data, now=now, job_id=job.id, run_id=run.id
    )
