"""Restores: queue them, let workers claim them atomically, hear their heartbeats, finish, cancel and
recover them.

A claim is one conditional ``UPDATE ... WHERE id = ? AND state = 'queued'``: on SQLite writers are
serialized; on PostgreSQL a second claimer's UPDATE waits for the first to commit, then finds the row
no longer queued and changes nothing. Either way one worker gets the restore (checked by the row count).
Restores do not count against a repository's ``max_concurrent_runs``: an operator is waiting for them,
and reading takes the engine's shared lock, which backups share; a prune's exclusive lock makes the
restore fail clearly (the worker reports the engine's RepositoryLocked), and it can be queued again.
:func:`claim_next_restore` commits; the other functions flush and leave the commit to the caller.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, defer

from resguardo.catalog.enums import RestoreKind, RestoreState
from resguardo.catalog.models import Repository, Restore, Run
from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE, Page, get_or_raise, paginate
from resguardo.core.errors import Conflict, UsageError

CLAIM_CANDIDATES = 8


def enqueue_restore(
    session: Session,
    run: Run,
    *,
    repository_id: int,
    kind: RestoreKind,
    items: list[str],
    target: dict[str, Any],
    overwrite: bool,
    now: datetime,
    requested_by_id: int | None = None,
    reason: str = "",
    request_id: int | None = None,
    snapshot_id: str | None = None,
) -> Restore:
    """Queue a restore of ``items`` of the snapshot of ``run`` into ``target``; return it.

    ``repository_id`` and ``snapshot_id`` say where the snapshot is read: the run's repository and
    snapshot, or a copy of it in another repository (``snapshot_id`` its ID there; None: the run's).

    Raises:
        UsageError: the run saved no snapshot, or ``items`` is empty.
    """
    if not run.snapshot_id:
        raise UsageError(f"run {run.id} saved no snapshot, so there is nothing to restore from it")
    if not items:
        raise UsageError("a restore needs at least one item (a database or a path)")
    restore = Restore(
        run_id=run.id,
        job_id=run.job_id,
        repository_id=repository_id,
        snapshot_id=snapshot_id or run.snapshot_id,
        kind=RestoreKind(kind),
        items=list(items),
        target=dict(target),
        overwrite=overwrite,
        state=RestoreState.QUEUED,
        requested_by_id=requested_by_id,
        reason=reason,
        request_id=request_id,
        queued_at=now,
        bytes_restored=0,
        log="",
        error="",
    )
    session.add(restore)
    session.flush()
    return restore


def get_restore(session: Session, restore_id: int) -> Restore:
    """Return the restore with ID ``restore_id``. Raises NotFound."""
    return get_or_raise(session, Restore, restore_id, "restore")


def list_restores(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    job_id: int | None = None,
    state: RestoreState | None = None,
) -> Page[Restore]:
    """Return a page of restores, newest first, optionally of one job or in one state (logs not read)."""
    statement = (
        select(Restore).options(defer(Restore.log)).order_by(Restore.queued_at.desc(), Restore.id.desc())
    )
    if job_id is not None:
        statement = statement.where(Restore.job_id == job_id)
    if state is not None:
        statement = statement.where(Restore.state == RestoreState(state))
    return paginate(session, statement, offset, limit)


def claim_next_restore(session: Session, worker_id: str, now: datetime) -> Restore | None:
    """Claim the oldest queued restore for ``worker_id`` and commit; return it, or None if none is queued.

    Two workers never get the same restore. Like :func:`~resguardo.catalog.queries.claim_next_run`, the
    claim ends the session's transaction.

    Raises:
        UsageError: an empty worker ID.
    """
    if not worker_id:
        raise UsageError("a worker needs an ID to claim restores")
    while True:
        statement = (
            select(Restore.id)
            .where(Restore.state == RestoreState.QUEUED)
            .order_by(Restore.id)
            .limit(CLAIM_CANDIDATES)
        )
        candidates = list(session.scalars(statement))
        if not candidates:
            session.rollback()
            return None
        for restore_id in candidates:
            claim = (
                update(Restore)
                .where(Restore.id == restore_id, Restore.state == RestoreState.QUEUED)
                .values(state=RestoreState.RUNNING, worker_id=worker_id, started_at=now, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], session.execute(claim)).rowcount == 1:
                session.commit()
                return session.get(Restore, restore_id, populate_existing=True)
        session.rollback()


def _update_own_restore(session: Session, restore_id: int, worker_id: str, values: dict[str, Any]) -> None:
    statement = (
        update(Restore)
        .where(
            Restore.id == restore_id, Restore.state == RestoreState.RUNNING, Restore.worker_id == worker_id
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
        raise Conflict(
            f"restore {restore_id} is not running on worker {worker_id} any more",
            "stop working on it: it was cancelled or failed as stale",
        )
    session.expire_all()


def restore_heartbeat(
    session: Session, restore_id: int, worker_id: str, now: datetime, *, bytes_restored: int
) -> None:
    """Record that ``worker_id`` is still restoring, with the bytes restored so far.

    Raises:
        Conflict: the restore is not running on this worker any more (cancelled, or failed as stale).
    """
    values = {"heartbeat_at": now, "bytes_restored": bytes_restored}
    _update_own_restore(session, restore_id, worker_id, values)


def finish_restore(
    session: Session,
    restore_id: int,
    worker_id: str,
    state: RestoreState,
    now: datetime,
    *,
    bytes_restored: int = 0,
    log: str = "",
    error: str = "",
    alternative: dict[str, Any] | None = None,
) -> Restore:
    """End a restore a worker holds, in ``state``; return it. ``alternative`` is the intact copy of
    its snapshot in another repository that a failed restore offers (None: none).

    Raises:
        UsageError: ``state`` is not one a restore ends in.
        Conflict: the restore is not running on this worker any more.
    """
    state = RestoreState(state)
    if not state.finished:
        raise UsageError(f"a restore ends succeeded, failed or cancelled, not {state.value}")
    values = {
        "state": state,
        "finished_at": now,
        "bytes_restored": bytes_restored,
        "log": log,
        "error": error,
        "alternative": alternative,
    }
    _update_own_restore(session, restore_id, worker_id, values)
    return get_restore(session, restore_id)


def fail_stale_restores(session: Session, now: datetime, timeout: timedelta) -> list[Restore]:
    """Fail every running restore whose worker sent no heartbeat for ``timeout``; return them.

    A failed restore is not retried by itself (its target may be half written): an operator queues it
    again. Safe from several processes at once (a conditional UPDATE).
    """
    cutoff = now - timeout
    stale = list(
        session.scalars(
            select(Restore)
            .where(Restore.state == RestoreState.RUNNING, Restore.heartbeat_at < cutoff)
            .order_by(Restore.id)
        )
    )
    failed = []
    for restore in stale:
        moment = restore.heartbeat_at.isoformat() if restore.heartbeat_at else "the claim"
        message = f"worker {restore.worker_id} stopped reporting: no heartbeat since {moment}"
        statement = (
            update(Restore)
            .where(
                Restore.id == restore.id, Restore.state == RestoreState.RUNNING, Restore.heartbeat_at < cutoff
            )
            .values(state=RestoreState.FAILED, finished_at=now, error=message)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], session.execute(statement)).rowcount == 1:
            session.refresh(restore)
            failed.append(restore)
    session.flush()
    return failed


def cancel_restore(session: Session, restore_id: int, now: datetime) -> Restore:
    """Cancel a queued or running restore (a running one stops at its worker's next heartbeat); return it.

    Raises:
        NotFound: no such restore.
        Conflict: the restore has ended already.
    """
    restore = get_restore(session, restore_id)
    running = restore.state is RestoreState.RUNNING
    statement = (
        update(Restore)
        .where(Restore.id == restore_id, Restore.state.in_([RestoreState.QUEUED, RestoreState.RUNNING]))
        .values(
            state=RestoreState.CANCELLED,
            finished_at=now,
            error="cancelled while running" if running else "cancelled before it started",
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
        raise Conflict(
            f"restore {restore_id} has ended ({restore.state.value}), so it cannot be cancelled",
            "queue it again to restore once more",
        )
    session.expire_all()
    return get_restore(session, restore_id)


def requeue_restore(
    session: Session, restore_id: int, now: datetime, requested_by_id: int | None, *, from_copy: bool = False
) -> Restore:
    """Queue a failed or cancelled restore again, as a new restore with the same snapshot, items, target,
    overwrite and reason; return the new one (the worker checks the target again).

    With ``from_copy``, the new restore reads the intact copy the failed one offers (its
    ``alternative``: another repository and the snapshot's ID there); ``run_id`` still names the run.

    Raises:
        NotFound: no such restore.
        Conflict: the restore is queued, running or succeeded; or ``from_copy`` and it offers no copy
            (or the copy's repository was removed from the catalog).
    """
    old = get_restore(session, restore_id)
    if old.state not in (RestoreState.FAILED, RestoreState.CANCELLED):
        raise Conflict(
            f"restore {restore_id} is {old.state.value}; only a failed or cancelled restore is queued again",
            "follow it, or start a new restore",
        )
    repository_id, snapshot_id = old.repository_id, old.snapshot_id
    if from_copy:
        repository_id, snapshot_id = _offered_copy(session, old)
    restore = Restore(
        run_id=old.run_id,
        job_id=old.job_id,
        repository_id=repository_id,
        snapshot_id=snapshot_id,
        kind=old.kind,
        items=list(old.items or []),
        target=dict(old.target or {}),
        overwrite=old.overwrite,
        state=RestoreState.QUEUED,
        requested_by_id=requested_by_id,
        reason=old.reason,
        request_id=old.request_id,
        queued_at=now,
        bytes_restored=0,
        log="",
        error="",
    )
    session.add(restore)
    session.flush()
    return restore


def _offered_copy(session: Session, restore: Restore) -> tuple[int, str]:
    """Return the repository and snapshot of the copy ``restore`` offers.

    Raises:
        Conflict: it offers none, or the copy's repository is no longer in the catalog.
    """
    offered = dict(restore.alternative or {})
    if not offered:
        raise Conflict(
            f"restore {restore.id} offers no copy to restore from",
            "a copy is offered when the data check failed and another repository holds the snapshot "
            "intact; queue it again without the copy, or restore from another run",
        )
    repository_id = int(offered["repository_id"])
    if session.get(Repository, repository_id) is None:
        raise Conflict(
            f"repository {offered.get('repository_name')!r} of the copy is no longer in the catalog",
            "restore from another run",
        )
    return repository_id, str(offered["snapshot_id"])
