"""The use case that runs one backup of a job: source → engine → repository, recorded in the catalog.

The job's source (local or SSH paths, PostgreSQL, MySQL/MariaDB or SQLite dumps) is opened by
:mod:`resguardo.services.run_sources`; a failing dump fails the run and saves no snapshot.

:func:`run_backup` takes a run a worker has claimed, reads its job, client and repository from the
catalog (revealing the repository's passphrase and storage credentials through the catalog's secret
API, in memory only, never logging them), opens the repository (creating it on first use), runs the
engine's backup in-process, and finishes the run: succeeded, partial (some files could not be read;
the snapshot was saved without them) or failed (with the error). The e-mails a finished run calls for
(a failure, a job working again) are queued in the transaction that finishes it. Progress (bytes,
files) goes to the caller's ``reporter``, which may raise :class:`RunStopped` to stop the backup (a
cancelled run, or one the worker lost).

Every saved backup is verified before the run ends (R12, :mod:`resguardo.services.verification`): the
packs and snapshot it wrote are read back and authenticated, still under its repository lock, and its
figures are compared with the job's last successful run. The verdict is stored on the run and logged.
A backup that does not read back intact keeps its run's state (the snapshot exists, and a retry
would only reuse the damaged data) but opens a failure-log entry naming the damaged objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import RunState, SecretKey, Verification, queries
from resguardo.catalog.models import Job
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.core.errors import Conflict, ResguardoError
from resguardo.engine.archiver import BackupResult
from resguardo.engine.checker import CheckProblem
from resguardo.engine.checker.written import OPERATION as VERIFY_OPERATION
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.events import Event, ItemWarning, Progress
from resguardo.engine.locks import locked
from resguardo.notify import notify_run_outcome
from resguardo.services.job_commands import JobCommands, run_job_command
from resguardo.services.repositories import opened_repository
from resguardo.services.run_sources import SourceSettings, opened_source
from resguardo.services.verification import NOT_VERIFIED, Verdict
from resguardo.services.verification.run import read_back, verdict_for

MAX_LOG_LINES = 1000


class RunStopped(Exception):
    """Raised by a reporter to stop a backup: the run was cancelled, or is no longer this worker's."""


@dataclass(frozen=True)
class RunProgress:
    """How far a run has come: bytes read and files processed so far."""

    bytes_read: int
    files: int


@dataclass
class _RunLog:
    """The log of one run: timestamped lines, at most MAX_LOG_LINES (the rest are counted)."""

    clock: Clock
    lines: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(self, message: str) -> None:
        if len(self.lines) >= MAX_LOG_LINES:
            self.dropped += 1
            return
        self.lines.append(f"{self.clock.now().strftime('%Y-%m-%dT%H:%M:%SZ')} {message}")

    def text(self) -> str:
        extra = [f"... and {self.dropped} more lines"] if self.dropped else []
        return "\n".join([*self.lines, *extra])


@dataclass(frozen=True)
class _Context:
    """What a backup attempt needs besides the session and the job."""

    secret_key: SecretKey
    reporter: Callable[[RunProgress], None]
    log: _RunLog
    clock: Clock
    kdf: KdfParameters | None
    cache_directory: str | None


@dataclass
class _Outcome:
    state: RunState
    error: str = ""
    snapshot_id: str | None = None
    bytes_read: int = 0
    bytes_added: int = 0
    files: int = 0
    result: BackupResult | None = None
    problems: list[CheckProblem] = field(default_factory=list)


def run_backup(
    session_factory: sessionmaker[Session],
    run_id: int,
    secret_key: SecretKey,
    reporter: Callable[[RunProgress], None],
    *,
    worker_id: str,
    clock: Clock = SYSTEM_CLOCK,
    kdf: KdfParameters | None = None,
    cache_directory: str | None = None,
) -> RunState | None:
    """Run the backup of a claimed run and finish the run in the catalog.

    Args:
        session_factory: makes catalog sessions.
        run_id: a run claimed by ``worker_id`` (state running).
        secret_key: the catalog's key, to reveal the repository's passphrase.
        reporter: receives progress; may raise :class:`RunStopped` to stop the backup.
        worker_id: the worker holding the run.
        clock: the time written to the catalog.
        kdf: key-derivation parameters for a repository created on first use (None: the engine's).
        cache_directory: the engine's local metadata cache (None: none).

    Returns:
        The state the run ended in, or None when the run was no longer this worker's at the end
        (cancelled, or failed as stale by another process), or the backup was stopped.
    """
    log = _RunLog(clock)
    with session_factory() as session:
        run = queries.get_run(session, run_id)
        job = queries.get_job(session, run.job_id)
        log.add(f"run {run.id} of job {job.name!r} (attempt {run.attempt}) on worker {worker_id}")
        context = _Context(secret_key, reporter, log, clock, kdf, cache_directory)
        outcome = _attempt(session, job, context)
        if outcome is None:
            return None
        verdict = _verdict(session, job, run_id, outcome, context)
        try:
            queries.finish_run(
                session,
                run_id,
                worker_id,
                outcome.state,
                clock.now(),
                bytes_read=outcome.bytes_read,
                bytes_added=outcome.bytes_added,
                files=outcome.files,
                snapshot_id=outcome.snapshot_id,
                log=log.text(),
                error=outcome.error,
                verification=verdict.verification,
                verification_reasons=verdict.documents(),
                verification_figures=verdict.figures,
            )
            notify_run_outcome(session, run_id, clock.now())
            session.commit()
        except Conflict:
            session.rollback()
            return None
        return outcome.state


def _verdict(session: Session, job: Job, run_id: int, outcome: _Outcome, context: _Context) -> Verdict:
    """Return the verdict on the run's backup (not verified without one), log it, and note a failure."""
    if outcome.result is None:
        return NOT_VERIFIED
    snapshot = outcome.result.snapshot
    backup = (snapshot.summary, snapshot.streams)
    verdict = verdict_for(session, job, run_id, backup, outcome.problems, now=context.clock.now())
    context.log.add(f"verification: {verdict.verification.value}")
    for reason in verdict.reasons:
        context.log.add(f"verification {reason.code}: {reason.message}")
    if verdict.verification is Verification.FAILED:
        failure = f"verification failed: {len(outcome.problems)} object(s) written do not read back intact"
        outcome.error = f"{outcome.error}; {failure}" if outcome.error else failure
    return verdict


def _attempt(session: Session, job: Job, context: _Context) -> _Outcome | None:
    """Back up the job's source; return how it ended, or None when the reporter stopped it."""
    log = context.log
    try:
        return _back_up(session, job, context)
    except RunStopped as stop:
        session.rollback()
        log.add(f"stopped: {stop}")
        return None
    except ResguardoError as error:
        session.rollback()
        message = f"{error.message} ({error.hint})" if error.hint else error.message
        log.add(f"failed: {message}")
        return _Outcome(RunState.FAILED, error=message)
    except OSError as error:
        session.rollback()
        log.add(f"failed: {error}")
        return _Outcome(RunState.FAILED, error=f"{type(error).__name__}: {error}")


def _back_up(session: Session, job: Job, context: _Context) -> _Outcome:
    """Open the job's source and the repository, back the source up, and return the outcome.

    Raises:
        RunStopped: the reporter stopped the backup.
        ResguardoError, OSError: the backup could not be made (no snapshot was saved, but for a
            partial one, which the outcome says).
    """
    log = context.log

    last = [RunProgress(bytes_read=0, files=0)]

    def on_event(event: Event) -> None:
        if isinstance(event, Progress):
            if event.operation != VERIFY_OPERATION:  # the read-back keeps the backup's figures shown
                last[0] = RunProgress(bytes_read=event.bytes_done, files=event.files_done)
            context.reporter(last[0])
        elif isinstance(event, ItemWarning) and event.operation != VERIFY_OPERATION:
            log.add(f"warning: {event.path}: {event.message}")

    settings = SourceSettings(tags=[f"job:{job.name}"], cache_directory=context.cache_directory)
    commands = JobCommands.of(dict(job.source or {}))
    if commands.before:
        _job_command(session, job, context, commands, "before")
    after_error: str | None = None
    try:
        with (
            opened_source(session, context.secret_key, job, settings) as source,
            opened_repository(
                session,
                context.secret_key,
                job.repository_id,
                context.clock.now(),
                kdf=context.kdf,
                cache_directory=context.cache_directory,
            ) as (repository, created, credentials_note),
        ):
            verb = "created" if created else "opened"
            log.add(f"{verb} repository {job.repository.name!r} with {credentials_note}")
            log.add(f"backing up {source.description} (client {job.client.name!r})")
            with locked(repository):
                result = source.run(repository, on_event)
                log.add(f"snapshot {result.snapshot.short_id} saved; verifying what it wrote")
                problems = read_back(repository, result.snapshot.id, on_event, log.add, context.clock)
    finally:
        if commands.after:
            after_error = _after_command(session, job, context, commands)
    outcome = _outcome_of(result, log)
    outcome.problems = problems
    if after_error is not None:
        outcome.state = RunState.PARTIAL
        outcome.error = after_error
    return outcome


def _job_command(session: Session, job: Job, context: _Context, commands: JobCommands, when: str) -> None:
    """Run the job's command ``when`` ("before" or "after") on its client. Raises SourceError if it fails."""
    run_job_command(
        session,
        context.secret_key,
        job.client,
        commands.before if when == "before" else commands.after,
        timeout_seconds=commands.timeout_seconds,
        log=context.log.add,
        when=when,
    )


def _after_command(session: Session, job: Job, context: _Context, commands: JobCommands) -> str | None:
    """Run the job's command after the backup; return its failure as text (None when it worked)."""
    try:
        _job_command(session, job, context, commands, "after")
    except ResguardoError as error:
        context.log.add(f"warning: {error}")
        return str(error)
    return None


def _outcome_of(result: BackupResult, log: _RunLog) -> _Outcome:
    """Return the outcome of a saved backup (partial when files could not be read) and log it."""
    summary = result.snapshot.summary
    outcome = _Outcome(
        RunState.PARTIAL if result.partial else RunState.SUCCEEDED,
        snapshot_id=result.snapshot.id,
        bytes_read=int(summary.get("total_bytes_processed", 0)),
        bytes_added=int(summary.get("data_added", 0)),
        files=int(summary.get("total_files_processed", 0)),
        result=result,
    )
    if result.partial:
        count = len(result.unreadable)
        outcome.error = f"{count} file(s) could not be read; snapshot {result.snapshot.short_id} lacks them"
    log.add(f"snapshot {result.snapshot.short_id} saved: {outcome.files} files, {outcome.bytes_read} bytes")
    return outcome
