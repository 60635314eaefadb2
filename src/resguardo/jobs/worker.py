"""The worker loop: claim a queued run, run its backup while heart-beating, and start again.

A worker (:class:`Worker`) claims runs from the catalog (:func:`~resguardo.catalog.queries.claim_next_run`:
two workers never get the same run), runs each through the service
:func:`~resguardo.services.run_backup`, and meanwhile a thread sends a heartbeat every
``heartbeat_interval`` seconds with the progress so far (bytes, files). When a heartbeat is refused
(the run was cancelled, or failed as stale by another process), the backup is stopped at its next
progress event; an engine step that reports nothing for a long time (one huge file) delays the stop
until it reports again.

Every worker also sweeps: runs of dead workers (no heartbeat for ``stale_timeout``) are failed, open
a failure-log entry, queue their failure e-mails and are retried after the job's backoff
(:func:`~resguardo.catalog.queries.fail_stale_runs`).

Restores (:func:`~resguardo.services.run_restore`) are claimed the same way
(:func:`~resguardo.catalog.queries.claim_next_restore`) and go first: before each run it claims, a
worker runs every queued restore (a person is waiting for them, and they are rare), so a long queue
of backups never holds a restore back for more than one backup. A restore's heartbeat carries the bytes
restored; a restore whose worker died is failed by the sweep (not retried: its target may be half
written) and an operator queues it again.

Limits: at most one running run per job (the catalog's unique index). A limit per repository is not
enforced yet: several workers may write to one repository at once, which the engine's shared locks allow.
"""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import RestoreState, RunState, SecretKey, VerificationState, queries
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.engine.crypto import KdfParameters
from resguardo.jobs.heartbeat import Heartbeat
from resguardo.jobs.verification_worker import sweep_verifications, verify_one, verify_until_idle
from resguardo.notify import notify_run_outcome
from resguardo.services import RestoreStopped, RunProgress, RunStopped, run_backup, run_restore

DEFAULT_HEARTBEAT_INTERVAL = 10.0
DEFAULT_STALE_TIMEOUT = timedelta(minutes=5)
DEFAULT_POLL_INTERVAL = 5.0


def new_worker_id() -> str:
    """Return an ID for a worker: host name, process ID and a random suffix."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker works.

    Attributes:
        secret_key: the catalog's key (to reveal repository passphrases).
        worker_id: this worker's ID in the runs it claims.
        heartbeat_interval: seconds between two heartbeats of a running run.
        stale_timeout: a running run without a heartbeat for this long is failed and retried.
        poll_interval: seconds to wait when there is nothing to claim.
        kdf: key-derivation parameters for repositories created on first use (None: the engine's).
        cache_directory: the engine's local metadata cache (None: none).
    """

    secret_key: SecretKey
    worker_id: str = field(default_factory=new_worker_id)
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    stale_timeout: timedelta = DEFAULT_STALE_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    kdf: KdfParameters | None = None
    cache_directory: str | None = None


class _Heartbeat(Heartbeat):
    """A run's heartbeat: its latest progress (bytes read, files), written until the run ends."""

    def __init__(
        self, session_factory: sessionmaker[Session], run_id: int, settings: WorkerSettings, clock: Clock
    ) -> None:
        super().__init__(session_factory, settings.heartbeat_interval, f"heartbeat-{run_id}")
        self.run_id = run_id
        self.settings = settings
        self.clock = clock
        self.progress = RunProgress(bytes_read=0, files=0)

    def report(self, progress: RunProgress) -> None:
        """Keep the latest progress for the next heartbeat; raise RunStopped if the run was lost."""
        self.progress = progress
        if self.lost.is_set():
            raise RunStopped(f"run {self.run_id} was cancelled or taken from this worker")

    def send(self, session: Session) -> None:
        """Write one heartbeat with the latest progress. Raises Conflict when the run is lost."""
        progress = self.progress
        queries.heartbeat(
            session,
            self.run_id,
            self.settings.worker_id,
            self.clock.now(),
            bytes_read=progress.bytes_read,
            files=progress.files,
        )


class _RestoreHeartbeat(_Heartbeat):
    """The heartbeat of a restore: the bytes restored so far."""

    restored = 0

    def report_bytes(self, restored: int) -> None:
        """Keep the bytes restored for the next heartbeat; raise RestoreStopped if the restore was lost."""
        self.restored = restored
        if self.lost.is_set():
            raise RestoreStopped(f"restore {self.run_id} was cancelled or taken from this worker")

    def send(self, session: Session) -> None:
        queries.restore_heartbeat(
            session, self.run_id, self.settings.worker_id, self.clock.now(), bytes_restored=self.restored
        )


class Worker:
    """Claims and runs queued runs; see the module's docstring.

    Args:
        session_factory: makes catalog sessions.
        settings: the worker's settings.
        clock: the time written to the catalog and used for claims and sweeps.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], settings: WorkerSettings, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self.restores_done: list[tuple[int, RestoreState | None]] = []
        self.verified: list[tuple[int, VerificationState | None]] = []

    def sweep(self) -> list[int]:
        """Fail the running runs of dead workers (their retries are queued), and their running restores;
        return the IDs of the runs."""
        with self.session_factory() as session:
            now = self.clock.now()
            failed = queries.fail_stale_runs(session, now, self.settings.stale_timeout)
            for run in failed:
                notify_run_outcome(session, run.id, now)
            queries.fail_stale_restores(session, now, self.settings.stale_timeout)
            session.commit()
            return [run.id for run in failed]

    def restore_one(self) -> tuple[int, RestoreState | None] | None:
        """Claim one queued restore and carry it out; return (its ID, the state it ended in), or None if
        none was queued. The state is None when the restore was stopped (cancelled) before it ended."""
        with self.session_factory() as session:
            restore = queries.claim_next_restore(session, self.settings.worker_id, self.clock.now())
            if restore is None:
                return None
            restore_id = restore.id
        with _RestoreHeartbeat(self.session_factory, restore_id, self.settings, self.clock) as heartbeat:
            state = run_restore(
                self.session_factory,
                restore_id,
                self.settings.secret_key,
                heartbeat.report_bytes,
                worker_id=self.settings.worker_id,
                clock=self.clock,
                cache_directory=self.settings.cache_directory,
            )
        return restore_id, state

    def _restore_all(self) -> None:
        while (done := self.restore_one()) is not None:
            self.restores_done.append(done)

    def run_one(self) -> tuple[int, RunState | None] | None:
        """Claim one due run and run it; return (its ID, the state it ended in), or None if none was due.

        The state is None when the run was stopped (cancelled, or taken as stale) before it ended.
        """
        with self.session_factory() as session:
            run = queries.claim_next_run(session, self.settings.worker_id, self.clock.now())
            if run is None:
                return None
            run_id = run.id
        with _Heartbeat(self.session_factory, run_id, self.settings, self.clock) as heartbeat:
            state = run_backup(
                self.session_factory,
                run_id,
                self.settings.secret_key,
                heartbeat.report,
                worker_id=self.settings.worker_id,
                clock=self.clock,
                kdf=self.settings.kdf,
                cache_directory=self.settings.cache_directory,
            )
        return run_id, state

    def verify_one(self) -> tuple[int, VerificationState | None] | None:
        """Fail the verifications of dead workers, then run one queued verification; return (its ID, its
        end state), or None when none is queued (docs/verification.md)."""
        sweep_verifications(self.session_factory, self.settings, self.clock)
        return verify_one(self.session_factory, self.settings, self.clock)

    def run_until_idle(self) -> list[tuple[int, RunState | None]]:
        """Sweep, then run queued restores and due runs until none is left, then the queued verifications
        (docs/verification.md); return the runs that ran (the restores carried out are in
        ``restores_done``, the verifications in ``verified``, both emptied at each call)."""
        self.sweep()
        self.restores_done = []
        done = []
        self._restore_all()
        while (result := self.run_one()) is not None:
            done.append(result)
            self._restore_all()
        self.verified = verify_until_idle(self.session_factory, self.settings, self.clock)
        return done

    def serve(self, stop: threading.Event) -> None:
        """Sweep and run due runs, waiting ``poll_interval`` when idle, until ``stop`` is set."""
        while not stop.is_set():
            if not self.run_until_idle() and not self.restores_done and not self.verified:
                stop.wait(self.settings.poll_interval)
