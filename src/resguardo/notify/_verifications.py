"""The messages about verification (R12, R13): a backup whose verification warned or failed when its run
ended, and a scrub or restore test that found a problem. Both go to the operators and administrators
who receive failure messages, in their language, with a link to the console's page.

The reasons' texts are the ones stored with the run or the verification (written in English by the
verification); the rest of the message is in the recipient's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import queries
from resguardo.catalog.enums import Verification, VerificationKind, VerificationState
from resguardo.catalog.models import Notification, Run
from resguardo.notify._outbox import notify
from resguardo.notify._runs import run_data, run_recipients

RUN_VERIFICATION = "run_verification"
VERIFICATION_PROBLEM = "verification_problem"
MAX_REASONS = 20


def notify_run_verification(session: Session, run: Run, now: datetime) -> list[Notification]:
    """Queue the message of a run whose backup's verification warned or failed; return it (none for a
    run verified clean, or not verified at all)."""
    if run.verification not in (Verification.WARNINGS, Verification.FAILED):
        return []
    job = queries.get_job(session, run.job_id)
    data = run_data(job, run, queries.notification_settings(session).console_url)
    reasons = [str(reason.get("message", "")) for reason in run.verification_reasons or []]
    data.update(failed=run.verification is Verification.FAILED, reasons=reasons[:MAX_REASONS])
    data.update(more_reasons=max(0, len(reasons) - MAX_REASONS))
    recipients = run_recipients(session)
    return notify(session, RUN_VERIFICATION, recipients, data, now=now, job_id=job.id, run_id=run.id)


def notify_verification_outcome(session: Session, verification_id: int, now: datetime) -> list[Notification]:
    """Queue the message of a finished scrub or restore test that warned or failed; return it (none when
    it passed).

    Raises:
        NotFound: no such verification.
    """
    verification = queries.get_verification(session, verification_id)
    if verification.state not in (VerificationState.WARNINGS, VerificationState.FAILED):
        return []
    console_url = queries.notification_settings(session).console_url
    repository = queries.get_repository(session, verification.repository_id)
    job = queries.get_job(session, verification.job_id) if verification.job_id is not None else None
    data: dict[str, Any] = {
        "verification_id": verification.id,
        "scrub": verification.kind is VerificationKind.SCRUB,
        "failed": verification.state is VerificationState.FAILED,
        "repository": repository.name,
        "job": job.name if job is not None else "",
        "summary": verification.summary,
        "error": verification.error,
        "verification_url": f"{console_url}/verifications/{verification.id}" if console_url else "",
    }
    return notify(
        session,
        VERIFICATION_PROBLEM,
        run_recipients(session),
        data,
        now=now,
        job_id=verification.job_id,
        run_id=verification.run_id,
    )
