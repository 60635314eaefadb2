"""Running one claimed verification and recording its outcome in the register."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import SecretKey, VerificationKind, VerificationState, queries
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.core.errors import Conflict, ResguardoError
from resguardo.notify import notify_verification_outcome
from resguardo.services.verification.outcome import ProgressReporter, VerificationOutcome
from resguardo.services.verification.restore_test import run_restore_test
from resguardo.services.verification.scrub import run_scrub


class VerificationStopped(Exception):
    """Raised by a reporter to stop a verification that is no longer this worker's."""


def run_verification(
    session_factory: sessionmaker[Session],
    verification_id: int,
    secret_key: SecretKey,
    reporter: ProgressReporter,
    *,
    worker_id: str,
    clock: Clock = SYSTEM_CLOCK,
    cache_directory: str | None = None,
) -> VerificationState | None:
    """Run a verification claimed by ``worker_id`` and finish it in the register (and, for a scrub that
    ended, store the cycle's progress in the same transaction).

    ``cache_directory`` is the engine's local metadata cache (None: none), as for backups.

    Returns:
        the state it ended in, or None when it was stopped or taken from this worker meanwhile.
    """
    with session_factory() as session:
        verification = queries.get_verification(session, verification_id)
        started = clock.monotonic()
        try:
            if verification.kind is VerificationKind.SCRUB:
                outcome = run_scrub(
                    session, secret_key, verification, reporter, clock.now(), cache_directory=cache_directory
                )
            else:
                outcome = run_restore_test(
                    session, secret_key, verification, reporter, clock.now(), cache_directory=cache_directory
                )
        except VerificationStopped:
            session.rollback()
            return None
        except (ResguardoError, OSError) as error:
            session.rollback()
            message = (
                error.message if isinstance(error, ResguardoError) else f"{type(error).__name__}: {error}"
            )
            hint = f" ({error.hint})" if isinstance(error, ResguardoError) and error.hint else ""
            outcome = VerificationOutcome(
                VerificationState.FAILED, message + hint, {"problems": [message]}, message
            )
        outcome.evidence["duration_seconds"] = round(clock.monotonic() - started, 3)
        return _finish(session, verification_id, worker_id, outcome, clock)


def _finish(
    session: Session, verification_id: int, worker_id: str, outcome: VerificationOutcome, clock: Clock
) -> VerificationState | None:
    values = {
        "state": outcome.state,
        "finished_at": clock.now(),
        "heartbeat_at": clock.now(),
        "summary": outcome.summary[:4000],
        "evidence": outcome.evidence,
        "error": outcome.error[:4000],
        "bytes_read": outcome.bytes_read,
        "packs_read": outcome.packs_read,
        "files_restored": outcome.files_restored,
        "snapshot_id": outcome.snapshot_id,
        "run_id": outcome.run_id,
    }
    try:
        queries.update_own_verification(session, verification_id, worker_id, values)
        notify_verification_outcome(session, verification_id, clock.now())
        if outcome.scrub_progress is not None:
            verification = queries.get_verification(session, verification_id)
            queries.save_scrub_progress(session, verification.repository_id, outcome.scrub_progress)
        session.commit()
    except Conflict:
        session.rollback()
        return None
    return outcome.state
