"""The use case a worker runs for one claimed restore: check the data, then write it into the target.

:func:`run_restore` opens the restore's repository with its sealed credentials (in memory only), takes
the engine's shared lock, loads the snapshot, and first reads every blob the restore needs, checking
each (authenticated decryption and its ID): a missing or damaged blob fails the restore *before the
target is touched*, and the same snapshot's intact copy in another repository of the catalog, when one
is found and its needed data checks out, is offered on the restore (``alternative``; see
:mod:`resguardo.services.copies`): a person decides whether to restore from it. Then it restores:

- databases: each stream is fed to the database server of the target client
  (:func:`resguardo.sources.restore.restore_database`, with the client's sealed database password),
  under its target name; an existing database is replaced only when the restore says ``overwrite``.
  For a client reached over SSH, the restore tools run on the client and the data streams to them over
  SSH (the client's database URL then read as the client sees it), unless the job's source says
  ``via: direct``: then the server is reached from here, at the client's address when the URL names no host;
- a SQLite stream: written to the file the target names, on the backup server;
- paths: the engine's restorer writes them into the target folder on the backup server
  (``/srv/www`` comes back as ``FOLDER/srv/www``).

Progress (bytes restored) goes to the caller's ``reporter``, which raises :class:`RestoreStopped` when
the restore was cancelled or taken from this worker; the log never holds a password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import RestoreKind, RestoreState, SecretKey, queries
from resguardo.catalog.models import Restore
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.core.errors import Conflict, ResguardoError
from resguardo.engine.events import Event, ItemWarning, Progress
from resguardo.engine.locks import locked
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot, load_snapshot
from resguardo.services.backup_run import _RunLog as RestoreLog
from resguardo.services.copies import SnapshotIdentity, offer_copy
from resguardo.services.repositories import opened_repository
from resguardo.services.restore_data import NeededDataDamaged, check_needed_data, stream_of
from resguardo.services.restores import client_commands, server_target
from resguardo.sources.restore import RestoreTarget, restore_database

if TYPE_CHECKING:
    from resguardo.sources.sshcommand import SshCommands


class RestoreStopped(ResguardoError):
    """Raised by a reporter to stop a restore: it was cancelled, or is no longer this worker's.

    A ResguardoError, so that a database restore stopped half-way drops the database it created.
    """


@dataclass
class _Work:
    """One restore in progress: its record, the log, the reporter and the bytes restored so far."""

    restore: Restore
    log: RestoreLog
    reporter: Callable[[int], None]
    restored: int = 0
    identity: SnapshotIdentity | None = None

    def count(self, size: int) -> None:
        self.restored += size
        self.reporter(self.restored)


def run_restore(
    session_factory: sessionmaker[Session],
    restore_id: int,
    secret_key: SecretKey,
    reporter: Callable[[int], None],
    *,
    worker_id: str,
    clock: Clock = SYSTEM_CLOCK,
    cache_directory: str | None = None,
) -> RestoreState | None:
    """Carry out a claimed restore and finish it in the catalog.

    Args:
        session_factory: makes catalog sessions.
        restore_id: a restore claimed by ``worker_id`` (state running).
        secret_key: the catalog's key, to reveal the repository's and the client's secrets.
        reporter: receives the bytes restored so far; may raise :class:`RestoreStopped`.
        worker_id: the worker holding the restore.
        clock: the time written to the catalog.
        cache_directory: the engine's local metadata cache (None: none).

    Returns:
        The state the restore ended in, or None when it was stopped or is no longer this worker's.
    """
    log = RestoreLog(clock)
    with session_factory() as session:
        restore = queries.get_restore(session, restore_id)
        log.add(f"restore {restore.id} of snapshot {restore.snapshot_id[:8]} on worker {worker_id}")
        work = _Work(restore, log, reporter)
        alternative: dict[str, Any] | None = None
        try:
            _carry_out(session, secret_key, work, clock, cache_directory)
            state, error = RestoreState.SUCCEEDED, ""
        except RestoreStopped as stop:
            session.rollback()
            log.add(f"stopped: {stop}")
            return None
        except (ResguardoError, OSError) as failure:
            session.rollback()
            error = _message(failure)
            state = RestoreState.FAILED
            if isinstance(failure, NeededDataDamaged):
                error, alternative = _offer(session, secret_key, work, failure, (clock, cache_directory))
            log.add(f"failed: {error}")
        try:
            queries.finish_restore(
                session,
                restore_id,
                worker_id,
                state,
                clock.now(),
                bytes_restored=work.restored,
                log=log.text(),
                error=error,
                alternative=alternative,
            )
            session.commit()
        except Conflict:
            session.rollback()
            return None
        return state


def _offer(
    session: Session,
    key: SecretKey,
    work: _Work,
    failure: NeededDataDamaged,
    where: tuple[Clock, str | None],
) -> tuple[str, dict[str, Any] | None]:
    """Look for an intact copy of the restore's snapshot in the other repositories (R23); return the
    restore's error saying what was found, and the copy to offer (None: none)."""
    clock, cache_directory = where
    restore = work.restore
    if restore.repository_id is None or work.identity is None:
        return _message(failure), None
    work.log.add("looking for a copy of this snapshot in the other repositories")
    needs = (restore.kind, [str(item) for item in restore.items])
    source = (restore.repository_id, work.identity)
    offer = offer_copy(session, key, source, needs, clock.now(), cache_directory=cache_directory)
    for line in offer.log:
        work.log.add(line)
    if offer.alternative is None:
        return f"{failure.message}; {offer.message} ({failure.hint})", None
    return f"{failure.message}; {offer.message}", offer.alternative.to_json()


def _message(failure: Exception) -> str:
    if isinstance(failure, ResguardoError):
        return f"{failure.message} ({failure.hint})" if failure.hint else failure.message
    return f"{type(failure).__name__}: {failure}"


def _carry_out(
    session: Session, key: SecretKey, work: _Work, clock: Clock, cache_directory: str | None
) -> None:
    """Open the repository, check the data the restore needs, then restore it.

    Raises:
        RestoreStopped: the reporter stopped the restore.
        ResguardoError, OSError: the restore could not be made.
    """
    restore = work.restore
    if restore.repository_id is None:
        raise Conflict("the repository of this restore was removed from the catalog")
    database_target = _database_target(session, key, restore)
    with ExitStack() as stack:
        ssh = None
        if database_target is not None and dict(restore.target or {}).get("via") == "ssh":
            client = queries.get_client(session, int(dict(restore.target or {})["client_id"]))
            ssh = client_commands(session, key, client, stack)
            work.log.add(f"restoring through client {client.name!r} over SSH")
        _restore_from_repository(
            session,
            key,
            work,
            clock=clock,
            cache_directory=cache_directory,
            database_target=database_target,
            ssh=ssh,
        )
    work.log.add(f"done: {work.restored} bytes restored")


def _restore_from_repository(
    session: Session,
    key: SecretKey,
    work: _Work,
    *,
    clock: Clock,
    cache_directory: str | None,
    database_target: RestoreTarget | None,
    ssh: SshCommands | None,
) -> None:
    """Open the repository, check the data the restore needs, then restore it (the tools over ``ssh``
    when given).

    Raises:
        RestoreStopped: the reporter stopped the restore.
        ResguardoError, OSError: the restore could not be made.
    """
    restore = work.restore
    assert restore.repository_id is not None
    with opened_repository(
        session, key, restore.repository_id, clock.now(), cache_directory=cache_directory
    ) as (repository, _created, credentials_note):
        work.log.add(f"opened the repository with {credentials_note}")
        with locked(repository):
            snapshot = load_snapshot(repository, restore.snapshot_id)
            work.identity = SnapshotIdentity.of(repository.config.id, snapshot)
            _verify(repository, snapshot, work)
            if restore.kind is RestoreKind.PATHS:
                _restore_paths(repository, snapshot, work)
            else:
                _restore_databases(repository, snapshot, work, database_target, ssh)


def _database_target(session: Session, key: SecretKey, restore: Restore) -> RestoreTarget | None:
    """Return the server (or SQLite file) a database restore writes to; None for paths."""
    target = dict(restore.target or {})
    if restore.kind is RestoreKind.PATHS:
        return None
    if "sqlite_path" in target:
        return RestoreTarget("sqlite", path=str(target["sqlite_path"]))
    client = queries.get_client(session, int(target["client_id"]))
    from resguardo.sources.addresses import parse_address

    kind = parse_address(client.database_url).kind if client.database_url else "postgresql"
    return server_target(session, key, client, kind, str(target.get("via") or "direct"))


def _verify(repository: Repository, snapshot: Snapshot, work: _Work) -> None:
    """Read and check every tree and blob the restore needs, once each, before anything is written.

    Raises:
        NeededDataDamaged: a tree or blob is missing or damaged (nothing was written to the target).
    """
    restore = work.restore
    blobs, size = check_needed_data(repository, snapshot, restore.kind, [str(item) for item in restore.items])
    work.log.add(f"checked the data needed: {blobs} blobs, {size} bytes, all present and intact")


def _counted(chunks: Iterator[bytes], work: _Work) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        work.count(len(chunk))


def _restore_databases(
    repository: Repository,
    snapshot: Snapshot,
    work: _Work,
    target: RestoreTarget | None,
    ssh: SshCommands | None,
) -> None:
    from resguardo.engine.browse import open_file

    assert target is not None
    names = dict(work.restore.target or {}).get("databases", {})
    for item in work.restore.items:
        stream = stream_of(snapshot, str(item))
        chunks = _counted(open_file(repository, snapshot, f"/{stream['name']}"), work)
        if target.address is not None:
            target = RestoreTarget(target.kind, target.address.with_database(str(names[item])))
        shown = target.display()
        work.log.add(f"restoring database {item!r} into {shown}")
        restored = restore_database(chunks, target, stream, overwrite=work.restore.overwrite, ssh=ssh)
        work.log.add(f"restored database {item!r} into {restored}")


def _restore_paths(repository: Repository, snapshot: Snapshot, work: _Work) -> None:
    from resguardo.engine.restorer import restore

    folder = str(dict(work.restore.target or {})["folder"])
    work.log.add(f"restoring {', '.join(map(str, work.restore.items))} into {folder}")

    def on_event(event: Event) -> None:
        if isinstance(event, Progress):
            work.restored = event.bytes_done
            work.reporter(event.bytes_done)
        elif isinstance(event, ItemWarning):
            work.log.add(f"warning: {event.path}: {event.message}")

    result = restore(
        repository,
        snapshot,
        folder,
        includes=[str(item) for item in work.restore.items],
        reporter=on_event,
        processes=False,
    )
    work.restored = result.bytes_written
    work.log.add(f"{result.files_restored} files, {result.directories} directories restored")
    if not result.complete:
        raise ResguardoError(
            f"restore incomplete: {len(result.errors)} entries could not be restored, "
            f"{len(result.damaged)} damaged",
            "see the log",
        )
