"""Runs: queue them, let workers claim them atomically, hear their heartbeats, finish them, and
recover the runs of workers that died (R10, R11).

The claim works with several workers on several hosts:

* on PostgreSQL, ``SELECT ... FOR UPDATE SKIP LOCKED`` picks a queued run no other claim holds, the
  claim locks the row of the run's repository (``FOR NO KEY UPDATE``, which still lets jobs refer to
  it), and an UPDATE marks the run running;
* on SQLite, a conditional ``UPDATE ... WHERE id = ? AND state = 'queued'`` succeeds for one claimer
  only (checked by its row count); SQLite serializes writers, the busy timeout makes them wait.

On both, a unique partial index allows one running run per job; a claim that would break it moves on
to the next candidate. A repository takes at most ``max_concurrent_runs`` running runs: the UPDATE
that marks a run running counts the repository's running runs in its own WHERE clause. On SQLite that
statement is one write transaction, which no other writer can interleave with; on PostgreSQL the lock
on the repository row, taken before the UPDATE, makes the claims of one repository take turns, and the
UPDATE (a new statement, so a new snapshot under READ COMMITTED) sees every claim committed before.
A run held back by the limit stays queued; the candidates are chosen among repositories with room, so
runs of other repositories are claimed past it. :func:`claim_next_run` commits (a claim must be visible
before the work starts); the other functions flush and leave the commit to the caller.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, defer

from resguardo.catalog.enums import RunState, RunTrigger, Verification
from resguardo.catalog.models import Job, Repository, Run
from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE, Page, get_or_raise, paginate
from resguardo.catalog.queries.failures import close_failures, open_failure
from resguardo.core.errors import Conflict, UsageError

CLAIM_CANDIDATES = 8
"""How many queued runs a claim looks at per round on SQLite before looking again."""
CLAIM_ROUNDS = 20
MAX_RETRY_DELAY = timedelta(hours=6)


def enqueue_run(
    session: Session,
    job_id: int,
    *,
    trigger: RunTrigger,
    now: datetime,
    not_before: datetime | None = None,
    attempt: int = 1,
    retry_of_id: int | None = None,
) -> Run:
    """Queue a run of a job, to be claimed from ``not_before`` (default ``now``); return it.

    Raises:
        NotFound: no such job.
    """
    get_or_raise(session, Job, job_id, "job")
    run = Run(
        job_id=job_id,
        state=RunState.QUEUED,
        trigger=RunTrigger(trigger),
        attempt=attempt,
        retry_of_id=retry_of_id,
        queued_at=now,
        not_before=not_before or now,
        bytes_read=0,
        bytes_added=0,
        files=0,
        log="",
        error="",
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> Run:
    """Return the run with ID ``run_id``. Raises NotFound."""
    return get_or_raise(session, Run, run_id, "run")


def list_runs(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    job_id: int | None = None,
    state: RunState | None = None,
    verification: Verification | None = None,
) -> Page[Run]:
    """Return a page of runs, newest first, optionally of one job, in one state, or with one verdict.

    A run's log is not read (it may hold a thousand lines); it loads when first asked for.
    """
    statement = select(Run).options(defer(Run.log)).order_by(Run.queued_at.desc(), Run.id.desc())
    if job_id is not None:
        statement = statement.where(Run.job_id == job_id)
    if state is not None:
        statement = statement.where(Run.state == RunState(state))
    if verification is not None:
        statement = statement.where(Run.verification == Verification(verification))
    return paginate(session, statement, offset, limit)


def verification_events(session: Session, since: datetime, *, limit: int = DEFAULT_PAGE_SIZE) -> list[Run]:
    """Return the runs finished after ``since`` whose verification warned or failed, oldest first.

    What a notifier polls to tell people about verification warnings and failures (R12).
    """
    statement = (
        select(Run)
        .options(defer(Run.log))
        .where(
            Run.finished_at > since,
            Run.verification.in_([Verification.WARNINGS, Verification.FAILED]),
        )
        .order_by(Run.finished_at, Run.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def last_run_figures(session: Session, job_id: int, before_run_id: int) -> dict[str, Any] | None:
    """Return the verification figures of the job's last successful run before ``before_run_id``.

    The last run that succeeded and whose backup read back intact (verified, or with warnings);
    None when there is none (a first run, or runs from before verification existed).
    """
    statement = (
        select(Run.verification_figures)
        .where(
            Run.job_id == job_id,
            Run.id < before_run_id,
            Run.state == RunState.SUCCEEDED,
            Run.verification.in_([Verification.VERIFIED, Verification.WARNINGS]),
            Run.verification_figures.is_not(None),
        )
        .order_by(Run.finished_at.desc(), Run.id.desc())
        .limit(1)
    )
    figures = session.scalars(statement).first()
    return dict(figures) if figures is not None else None


def _repository_has_room(repository_id: Any) -> Any:
    """Return the condition "the repository ``repository_id`` has fewer running runs than its limit".

    ``repository_id`` is a column or a value; the count looks at the runs of every job of the repository.
    """
    running = aliased(Run)
    running_job = aliased(Job)
    running_count = (
        select(func.count())
        .select_from(running)
        .join(running_job, running_job.id == running.job_id)
        .where(running_job.repository_id == repository_id, running.state == RunState.RUNNING)
        .scalar_subquery()
    )
    limit = select(Repository.max_concurrent_runs).where(Repository.id == repository_id).scalar_subquery()
    return running_count < limit


def _claimable(now: datetime) -> Any:
    """Return the SELECT of queued, due runs (ID and repository ID) whose job has no running run and
    whose repository has room, oldest first."""
    running = aliased(Run)
    job_busy = exists().where(running.job_id == Run.job_id, running.state == RunState.RUNNING)
    return (
        select(Run.id, Job.repository_id)
        .join(Job, Job.id == Run.job_id)
        .where(
            Run.state == RunState.QUEUED,
            Run.not_before <= now,
            ~job_busy,
            _repository_has_room(Job.repository_id),
        )
        .order_by(Run.not_before, Run.id)
    )


def _lock_repository(session: Session, repository_id: int) -> None:
    """On PostgreSQL, lock the repository's row until the transaction ends, so that the claims of one
    repository take turns (``FOR NO KEY UPDATE``: jobs may still be added that refer to it)."""
    statement = select(Repository.id).where(Repository.id == repository_id)
    session.execute(statement.with_for_update(key_share=True))


def _mark_running(session: Session, run_id: int, repository_id: int, worker_id: str, now: datetime) -> bool:
    """Make a queued run running on ``worker_id``; return False if it was not queued any more, its job
    has a running run already, or its repository is at its limit (the transaction is then rolled back).
    """
    statement = (
        update(Run)
        .where(Run.id == run_id, Run.state == RunState.QUEUED, _repository_has_room(repository_id))
        .values(state=RunState.RUNNING, worker_id=worker_id, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    try:
        result = cast(CursorResult[Any], session.execute(statement))
    except IntegrityError:
        session.rollback()
        return False
    if result.rowcount != 1:
        session.rollback()
        return False
    return True


def claim_next_run(session: Session, worker_id: str, now: datetime) -> Run | None:
    """Claim the oldest due queued run for ``worker_id`` and commit; return it, or None if none is free.

    Two workers never get the same run, a job never has two running runs, and a repository never has
    more running runs than its ``max_concurrent_runs``. The claim is a transaction of its own: it ends
    the session's transaction (a commit when it claims, a rollback otherwise), so give it a session
    with no pending work, as a worker's is.

    Raises:
        UsageError: an empty worker ID.
    """
    if not worker_id:
        raise UsageError("a worker needs an ID to claim runs")
    postgresql = session.get_bind().dialect.name == "postgresql"
    for _round in range(CLAIM_ROUNDS):
        if postgresql:
            statement = _claimable(now).limit(1).with_for_update(skip_locked=True, of=Run)
        else:
            statement = _claimable(now).limit(CLAIM_CANDIDATES)
        candidates = [(row[0], row[1]) for row in session.execute(statement)]
        if not candidates:
            session.rollback()
            return None
        for run_id, repository_id in candidates:
            if postgresql:
                _lock_repository(session, repository_id)
            if _mark_running(session, run_id, repository_id, worker_id, now):
                session.commit()
                return session.get(Run, run_id, populate_existing=True)
    session.rollback()
    return None


def heartbeat(
    session: Session,
    run_id: int,
    worker_id: str,
    now: datetime,
    *,
    bytes_read: int | None = None,
    bytes_added: int | None = None,
    files: int | None = None,
) -> None:
    """Record that ``worker_id`` is still working on a run, with its progress so far.

    Raises:
        Conflict: the run is not running on this worker any more (e.g. it was failed as stale, or
            cancelled); the worker should stop working on it.
    """
    values: dict[str, Any] = {"heartbeat_at": now}
    for name, value in (("bytes_read", bytes_read), ("bytes_added", bytes_added), ("files", files)):
        if value is not None:
            values[name] = value
    _update_own_run(session, run_id, worker_id, values)


def _update_own_run(session: Session, run_id: int, worker_id: str, values: dict[str, Any]) -> None:
    statement = (
        update(Run)
        .where(Run.id == run_id, Run.state == RunState.RUNNING, Run.worker_id == worker_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(statement))
    if result.rowcount != 1:
        raise Conflict(
            f"run {run_id} is not running on worker {worker_id} any more",
            "stop working on it: it was failed as stale or cancelled, and may be retried",
        )
    session.expire_all()


def finish_run(
    session: Session,
    run_id: int,
    worker_id: str,
    state: RunState,
    now: datetime,
    *,
    bytes_read: int = 0,
    bytes_added: int = 0,
    files: int = 0,
    snapshot_id: str | None = None,
    log: str = "",
    error: str = "",
    verification: Verification = Verification.NOT_VERIFIED,
    verification_reasons: list[dict[str, Any]] | None = None,
    verification_figures: dict[str, Any] | None = None,
) -> Run:
    """End a run a worker holds, in ``state``, with the verdict on its backup; return it.

    A failed run opens a failure-log entry and queues a retry while the job has retries left; a
    succeeded run closes the job's open failure entries (R11, R18). A partial run does neither. A run
    whose backup failed verification (what it wrote does not read back intact) keeps its state but
    opens a failure-log entry, without a retry (a retry would reuse the damaged data), and closes none.

    Raises:
        UsageError: ``state`` is not one a run ends in.
        Conflict: the run is not running on this worker any more.
    """
    state = RunState(state)
    if not state.finished:
        raise UsageError(f"a run ends succeeded, partial, failed or cancelled, not {state.value}")
    values = {
        "state": state,
        "finished_at": now,
        "bytes_read": bytes_read,
        "bytes_added": bytes_added,
        "files": files,
        "snapshot_id": snapshot_id,
        "log": log,
        "error": error,
        "verification": Verification(verification),
        "verification_reasons": verification_reasons,
        "verification_figures": verification_figures,
    }
    _update_own_run(session, run_id, worker_id, values)
    run = get_run(session, run_id)
    if state is RunState.FAILED:
        _after_failure(session, run, now)
    elif verification is Verification.FAILED:
        open_failure(session, run, now)
    elif state is RunState.SUCCEEDED:
        close_failures(session, run.job_id, run.id, now)
    session.flush()
    return run


def _after_failure(session: Session, run: Run, now: datetime) -> Run | None:
    """Open the failure entry of a failed run and queue its retry if the job allows one; return it."""
    open_failure(session, run, now)
    job = get_or_raise(session, Job, run.job_id, "job")
    if run.attempt > job.max_retries:
        return None
    delay = timedelta(seconds=job.retry_backoff_seconds * 2 ** (run.attempt - 1))
    return enqueue_run(
        session,
        job.id,
        trigger=RunTrigger.RETRY,
        now=now,
        not_before=now + min(delay, MAX_RETRY_DELAY),
        attempt=run.attempt + 1,
        retry_of_id=run.id,
    )


def fail_stale_runs(session: Session, now: datetime, timeout: timedelta) -> list[Run]:
    """Fail every running run whose worker has not sent a heartbeat for ``timeout``; return them.

    Each such run opens a failure entry and, while its job has retries left, queues a retry after
    the job's backoff (doubling with each attempt). Safe to call from several processes at once: a
    conditional UPDATE lets one of them fail a given run.
    """
    cutoff = now - timeout
    stale = list(
        session.scalars(
            select(Run).where(Run.state == RunState.RUNNING, Run.heartbeat_at < cutoff).order_by(Run.id)
        )
    )
    failed = []
    for run in stale:
        message = (
            f"worker {run.worker_id} stopped reporting: no heartbeat since "
            f"{run.heartbeat_at.isoformat() if run.heartbeat_at else 'the claim'}"
        )
        statement = (
            update(Run)
            .where(Run.id == run.id, Run.state == RunState.RUNNING, Run.heartbeat_at < cutoff)
            .values(state=RunState.FAILED, finished_at=now, error=message)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
            continue
        session.refresh(run)
        _after_failure(session, run, now)
        failed.append(run)
    session.flush()
    return failed


def cancel_run(session: Session, run_id: int, now: datetime) -> Run:
    """Cancel a queued run; return it.

    Raises:
        NotFound: no such run.
        Conflict: the run is not queued (a running run is stopped by its worker).
    """
    get_run(session, run_id)
    statement = (
        update(Run)
        .where(Run.id == run_id, Run.state == RunState.QUEUED)
        .values(state=RunState.CANCELLED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
        raise Conflict(f"run {run_id} is not queued, so it cannot be cancelled here")
    session.expire_all()
    return get_run(session, run_id)


def cancel_running_run(session: Session, run_id: int, now: datetime) -> Run:
    """Cancel a running run: mark it cancelled, so that its worker's next heartbeat tells it to stop.

    Raises:
        NotFound: no such run.
        Conflict: the run is not running (a queued run is cancelled with :func:`cancel_run`).
    """
    get_run(session, run_id)
    statement = (
        update(Run)
        .where(Run.id == run_id, Run.state == RunState.RUNNING)
        .values(state=RunState.CANCELLED, finished_at=now, error="cancelled while running")
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
        raise Conflict(f"run {run_id} is not running, so it cannot be stopped")
    session.expire_all()
    return get_run(session, run_id)
