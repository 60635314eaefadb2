"""The worker's part in verification: fail the verifications of dead workers, claim and run the queued.

A verification is claimed like a run (:func:`~resguardo.catalog.queries.claim_next_verification`), run
through :func:`~resguardo.services.verification.run_verification` while a thread sends a heartbeat
with its progress every ``heartbeat_interval`` seconds, and a verification whose worker stopped
sending them for ``stale_timeout`` is failed and queued again
(:func:`~resguardo.catalog.queries.fail_stale_verifications`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import VerificationState, queries
from resguardo.clock import Clock
from resguardo.jobs.heartbeat import Heartbeat
from resguardo.services.verification import VerificationProgress, VerificationStopped, run_verification

if TYPE_CHECKING:
    from resguardo.jobs.worker import WorkerSettings


class _VerificationHeartbeat(Heartbeat):
    """A running verification's heartbeat: its latest progress, written until it ends."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        verification_id: int,
        settings: WorkerSettings,
        clock: Clock,
    ) -> None:
        super().__init__(session_factory, settings.heartbeat_interval, f"verify-{verification_id}")
        self.verification_id = verification_id
        self.settings = settings
        self.clock = clock
        self.progress = VerificationProgress()

    def report(self, progress: VerificationProgress) -> None:
        """Keep the latest progress; raise VerificationStopped if the verification was taken away."""
        self.progress = progress
        if self.lost.is_set():
            raise VerificationStopped(f"verification {self.verification_id} was taken from this worker")

    def send(self, session: Session) -> None:
        """Write one heartbeat with the latest progress. Raises Conflict when it is no longer ours."""
        progress = self.progress
        values = {
            "heartbeat_at": self.clock.now(),
            "bytes_read": progress.bytes_read,
            "packs_read": progress.packs_read,
            "files_restored": progress.files_restored,
        }
        queries.update_own_verification(session, self.verification_id, self.settings.worker_id, values)


def sweep_verifications(
    session_factory: sessionmaker[Session], settings: WorkerSettings, clock: Clock
) -> list[int]:
    """Fail the running verifications of dead workers (queuing them again); return their IDs."""
    with session_factory() as session:
        failed = queries.fail_stale_verifications(session, clock.now(), settings.stale_timeout)
        session.commit()
        return [record.id for record in failed]


def verify_one(
    session_factory: sessionmaker[Session], settings: WorkerSettings, clock: Clock
) -> tuple[int, VerificationState | None] | None:
    """Claim one queued verification and run it; return (its ID, its end state), or None if none is queued."""
    with session_factory() as session:
        claimed = queries.claim_next_verification(session, settings.worker_id, clock.now())
        if claimed is None:
            return None
        verification_id = claimed.id
    return verification_id, run_claimed_verification(session_factory, verification_id, settings, clock)


def run_claimed_verification(
    session_factory: sessionmaker[Session], verification_id: int, settings: WorkerSettings, clock: Clock
) -> VerificationState | None:
    """Run a verification ``settings.worker_id`` has claimed, with heartbeats; return its end state (None:
    it was taken from this worker meanwhile)."""
    with _VerificationHeartbeat(session_factory, verification_id, settings, clock) as heartbeat:
        return run_verification(
            session_factory,
            verification_id,
            settings.secret_key,
            heartbeat.report,
            worker_id=settings.worker_id,
            clock=clock,
            cache_directory=settings.cache_directory,
        )


def verify_until_idle(
    session_factory: sessionmaker[Session], settings: WorkerSettings, clock: Clock
) -> list[tuple[int, VerificationState | None]]:
    """Sweep, then run queued verifications until none is left; return what ran."""
    sweep_verifications(session_factory, settings, clock)
    done = []
    while (result := verify_one(session_factory, settings, clock)) is not None:
        done.append(result)
    return done
