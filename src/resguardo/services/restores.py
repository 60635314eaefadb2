"""Asking for a restore: what a run's snapshot holds, and a restore order checked and queued.

:func:`snapshot_contents` opens the run's repository (its passphrase and storage credentials revealed
from the catalog in memory only) and lists the databases and top-level paths of the snapshot.
:func:`request_restore` checks an order against the snapshot and the target before queuing it: the
items must be in the snapshot, the target must be given, and an existing target database (or SQLite
file, or a folder that is not empty) is refused unless ``overwrite`` is set. A worker then runs it
(:mod:`resguardo.services.restore_run`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from resguardo.catalog import ClientSecretName, RestoreKind, SecretKey, queries
from resguardo.catalog.models import Client, Job, Restore, Run
from resguardo.catalog.sources import database_via
from resguardo.core.errors import Conflict, IntegrityError, NotFound, UsageError
from resguardo.engine.browse import PathNotFound, find_node
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot, load_snapshot
from resguardo.services.copies import SnapshotCopy, find_copies, identity_of, unreadable_snapshot
from resguardo.services.repositories import opened_repository
from resguardo.services.run_sources import ssh_access
from resguardo.sources.addresses import parse_address
from resguardo.sources.restore import KIND_OF_TARGET, RestoreTarget, database_exists

if TYPE_CHECKING:
    from resguardo.sources.sshcommand import SshCommands

SERVER_KINDS = {stream_kind: kind for kind, stream_kind in KIND_OF_TARGET.items() if kind != "sqlite"}
RESTORED_SUFFIX = "_restored"


@dataclass(frozen=True)
class RestoreOrder:
    """What a person asks to restore.

    Attributes:
        run_id: the run whose snapshot is restored.
        kind: ``database`` or ``paths``.
        items: database names, or absolute paths of the snapshot.
        client_id: the client whose database server receives the databases (None: the job's client).
        databases: the target name of each database (missing ones: ``<name>_restored``).
        sqlite_path: for a SQLite stream, the file on the backup server to write.
        folder: for paths, the folder on the backup server to restore into.
        overwrite: replace an existing database, file or the entries of a folder that is not empty.
        reason: why (free text, kept with the restore).
        requested_by_id: the user asking (None: the service's own account).
        repository_id: read the snapshot from its copy in this catalog repository (None: the run's own).
    """

    run_id: int
    kind: RestoreKind
    items: list[str]
    client_id: int | None = None
    databases: dict[str, str] = field(default_factory=dict)
    sqlite_path: str | None = None
    folder: str | None = None
    overwrite: bool = False
    reason: str = ""
    requested_by_id: int | None = None
    repository_id: int | None = None


def field_error(message: str, hint: str, name: str) -> UsageError:
    """Return a UsageError naming the request's field ``name`` (the API answers 422 with it)."""
    error = UsageError(message, hint)
    setattr(error, "api_field", name)  # noqa: B010 (an attribute the API's error handler reads)
    return error


def _snapshot_run(session: Session, run_id: int) -> Run:
    run = queries.get_run(session, run_id)
    if not run.snapshot_id:
        raise field_error(
            f"run {run_id} saved no snapshot ({run.state.value}), so there is nothing to restore from it",
            "choose a run that succeeded or was partial",
            "run_id",
        )
    return run


def _load_run_snapshot(session: Session, key: SecretKey, run: Run, now: datetime) -> Snapshot:
    """Open the run's repository and return its snapshot.

    Raises:
        SnapshotNotFound: the snapshot is gone (forgotten, or pruned).
        ResguardoError: the repository cannot be opened.
    """
    repository_id = queries.get_job(session, run.job_id).repository_id
    with opened_repository(session, key, repository_id, now) as (repository, _created, _note):
        return load_snapshot(repository, str(run.snapshot_id))


def contents_document(run: Run, snapshot: Snapshot) -> dict[str, Any]:
    """Return what a snapshot holds to choose from: its databases and its top-level paths."""
    databases = [
        {
            "database": str(stream["database"]),
            "kind": str(stream.get("kind", "")),
            "size": int(stream.get("size", 0)),
            "stream": str(stream.get("name", "")),
        }
        for stream in snapshot.streams
        if "database" in stream
    ]
    paths = [] if snapshot.streams else list(snapshot.paths)
    return {
        "run_id": run.id,
        "snapshot_id": snapshot.id,
        "time": snapshot.time.isoformat(),
        "hostname": snapshot.hostname,
        "databases": databases,
        "paths": paths,
    }


def snapshot_contents(session: Session, key: SecretKey, run_id: int, now: datetime) -> dict[str, Any]:
    """Return what the snapshot of run ``run_id`` holds (see :func:`contents_document`).

    Raises:
        NotFound: no such run. UsageError: the run saved no snapshot (names ``run_id``).
        ResguardoError: the repository or the snapshot cannot be read.
    """
    run = _snapshot_run(session, run_id)
    return contents_document(run, _load_run_snapshot(session, key, run, now))


def restore_via(client: Client, job: Job) -> str:
    """Return where the restore tools run for a database server of ``client``: ``ssh`` (on the client,
    as its backups' dump tools do) or ``direct`` (here). The job's ``source.via`` decides for its own
    client; another client follows its transport.
    """
    return database_via(job.source or {} if client.id == job.client_id else {}, client)


def server_target(
    session: Session, key: SecretKey, client: Client, kind: str, via: str = "direct"
) -> RestoreTarget:
    """Return the database server of ``client`` as a restore target of ``kind`` (postgresql or mysql),
    with its sealed password revealed in memory (never logged). With ``via`` ``ssh`` the address is
    the one the client itself sees (its database URL as written); else as seen from here.

    Raises:
        UsageError: the client has no database server, or one of another kind (names ``target.client_id``).
    """
    from resguardo.services.connectivity.run import client_database_address

    if not client.database_url:
        raise field_error(
            f"client {client.name!r} has no database server to restore into",
            f"set its database URL: resguardo client edit {client.name} --db-server {kind}://USER@HOST/",
            "target.client_id",
        )
    if via == "ssh":
        address = parse_address(client.database_url)
    else:
        address = client_database_address(client, client.database_url)
    if address.kind != kind:
        raise field_error(
            f"client {client.name!r} has a {address.kind} server; a {kind} database cannot go there",
            "choose a client with a server of the same kind",
            "target.client_id",
        )
    password = queries.reveal_client_secret(session, key, client.id, ClientSecretName.DATABASE_PASSWORD)
    return RestoreTarget(kind, address.with_password(password))


def _database_target(
    session: Session, key: SecretKey, order: RestoreOrder, run: Run, snapshot: Snapshot
) -> dict[str, Any]:
    """Check a database order against the snapshot and the target; return the restore's target."""
    kinds = {}
    for name in order.items:
        found = [stream for stream in snapshot.streams if stream.get("database") == name]
        if not found:
            held = ", ".join(str(stream["database"]) for stream in snapshot.streams if "database" in stream)
            raise field_error(
                f"snapshot {snapshot.short_id} holds no database {name!r}",
                f"it holds: {held}" if held else "it holds no database",
                "items",
            )
        kinds[name] = str(found[0].get("kind"))
    if set(kinds.values()) == {KIND_OF_TARGET["sqlite"]}:
        return _sqlite_target(order)
    if len(set(kinds.values())) != 1:
        raise field_error("restore databases of one kind at a time", "choose them again", "items")
    kind = SERVER_KINDS[next(iter(kinds.values()))]
    job = queries.get_job(session, run.job_id)
    client = queries.get_client(session, order.client_id or job.client_id)
    via = restore_via(client, job)
    target = server_target(session, key, client, kind, via)
    names = {name: order.databases.get(name) or f"{name}{RESTORED_SUFFIX}" for name in order.items}
    for source, name in names.items():
        if not name.strip() or "\x00" in name:
            raise field_error(f"the target name of {source!r} is empty", "give a name", "target.databases")
    if not order.overwrite:
        with ExitStack() as stack:
            ssh = client_commands(session, key, client, stack) if via == "ssh" else None
            for name in names.values():
                if database_exists(target, name, ssh):
                    assert target.address is not None
                    raise Conflict(
                        f"database {name!r} already exists on {target.address.display()}"
                        + (f" (on {client.name}, over SSH)" if ssh is not None else ""),
                        "tick overwrite to replace it, or name another database",
                    )
    return {"client_id": client.id, "databases": names, "via": via}


def client_commands(session: Session, key: SecretKey, client: Client, stack: ExitStack) -> SshCommands:
    """Log in to an SSH client with its sealed key (host key checked; closed with ``stack``) and return
    what runs commands there.

    Raises:
        ConfigurationError: the client has no SSH key or host key in the catalog.
        SourceError: the client cannot be reached, its host key changed, or it refused the key.
    """
    from resguardo.sources.sshcommand import SshClientConnection

    location, credentials = ssh_access(session, key, client)
    return stack.enter_context(SshClientConnection(location, credentials)).commands


def _sqlite_target(order: RestoreOrder) -> dict[str, Any]:
    if len(order.items) != 1 or not order.sqlite_path:
        raise field_error(
            "a SQLite database is restored into one file on the backup server",
            "choose one SQLite database and give target.sqlite_path",
            "target.sqlite_path",
        )
    path = os.path.abspath(order.sqlite_path)
    if os.path.exists(path) and not order.overwrite:
        raise Conflict(f"{path} already exists", "tick overwrite to replace it, or give another path")
    return {"sqlite_path": path}


def _paths_target(
    order: RestoreOrder, snapshot: Snapshot, repository_check: Callable[[str], bool]
) -> dict[str, Any]:
    """Check a paths order (each path in the snapshot, a folder given); return the restore's target."""
    if not order.folder or not os.path.isabs(order.folder):
        raise field_error(
            "a restore of paths needs the absolute path of a folder on the backup server",
            "give target.folder, e.g. /srv/restores/2026-11-23",
            "target.folder",
        )
    for path in order.items:
        if not path.startswith("/") or not repository_check(path):
            raise field_error(
                f"snapshot {snapshot.short_id} holds no path {path!r}",
                f"it holds: {', '.join(snapshot.paths)}",
                "items",
            )
    folder = os.path.abspath(order.folder)
    if os.path.isdir(folder) and os.listdir(folder) and not order.overwrite:
        raise Conflict(
            f"folder {folder} is not empty", "tick overwrite to replace what is in the way, or choose another"
        )
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise field_error(f"{folder} is not a folder", "choose a folder", "target.folder")
    return {"folder": folder}


def request_restore(session: Session, key: SecretKey, order: RestoreOrder, now: datetime) -> Restore:
    """Check ``order`` against the run's snapshot and its target, then queue the restore; return it
    (flushed; the caller audits and commits).

    Raises:
        NotFound: no such run or client.
        UsageError: the run saved no snapshot, an item is not in it, or the target is missing or of
            another kind (each naming its field: ``run_id``, ``items``, ``target...``).
        Conflict: the target exists and ``overwrite`` is false; or the snapshot's trees cannot be read
            (the hint names a copy in another repository to ask from, when there is one).
        ResguardoError: the repository, the snapshot or the target server cannot be read.
    """
    if not order.items:
        raise field_error("choose at least one database or path to restore", "", "items")
    run = _snapshot_run(session, order.run_id)
    repository_id, snapshot_id = _source_of(session, key, run, order.repository_id, now)
    try:
        with opened_repository(session, key, repository_id, now) as (repository, _created, _note):
            snapshot = load_snapshot(repository, snapshot_id)
            if order.kind is RestoreKind.PATHS:
                target = _paths_target(order, snapshot, lambda path: _holds(repository, snapshot, path))
    except IntegrityError as error:
        session.rollback()
        raise unreadable_snapshot(session, key, (repository_id, snapshot_id), error, now) from None
    if order.kind is RestoreKind.DATABASE:
        target = _database_target(session, key, order, run, snapshot)
    return queries.enqueue_restore(
        session,
        run,
        repository_id=repository_id,
        kind=order.kind,
        items=order.items,
        target=target,
        overwrite=order.overwrite,
        now=now,
        requested_by_id=order.requested_by_id,
        reason=order.reason,
        snapshot_id=snapshot_id,
    )


def _source_of(
    session: Session, key: SecretKey, run: Run, chosen: int | None, now: datetime
) -> tuple[int, str]:
    """Return the repository and snapshot ID a restore of ``run`` reads: the run's own, or its copy in
    the ``chosen`` repository.

    Raises:
        NotFound: no such repository. UsageError: it holds no copy of the snapshot (names ``repository_id``).
    """
    own = queries.get_job(session, run.job_id).repository_id
    if chosen is None or chosen == own:
        return own, str(run.snapshot_id)
    try:
        record = queries.get_repository(session, chosen)
    except NotFound:
        raise field_error(
            f"no repository has ID {chosen}", "see where the snapshot is: the run's copies", "repository_id"
        ) from None
    identity, _note = identity_of(session, key, own, str(run.snapshot_id), now)
    search = find_copies(session, key, own, identity, now, among=[chosen])
    if not search.copies:
        why = f" ({search.notes[0]})" if search.notes else ""
        raise field_error(
            f"repository {record.name!r} holds no copy of the snapshot of run {run.id}{why}",
            f"see where it is: GET /api/v1/runs/{run.id}/copies",
            "repository_id",
        )
    return chosen, search.copies[0].snapshot_id


def snapshot_locations(session: Session, key: SecretKey, run_id: int, now: datetime) -> dict[str, Any]:
    """Return where the snapshot of run ``run_id`` can be restored from: the run's repository first,
    then each copy in another repository of the catalog (each repository is opened), and a note for
    each repository that could not be searched.

    Raises:
        NotFound: no such run. UsageError: the run saved no snapshot (names ``run_id``).
    """
    run = _snapshot_run(session, run_id)
    own = queries.get_repository(session, queries.get_job(session, run.job_id).repository_id)
    identity, note = identity_of(session, key, own.id, str(run.snapshot_id), now)
    search = find_copies(session, key, own.id, identity, now)
    first = SnapshotCopy(own.id, own.name, str(run.snapshot_id))
    locations = [{**first.to_json(), "copy": False}]
    locations += [{**copy.to_json(), "copy": True} for copy in search.copies]
    notes = [f"repository {own.name!r}: {note}"] if note else []
    return {
        "run_id": run.id,
        "snapshot_id": run.snapshot_id,
        "locations": locations,
        "notes": notes + search.notes,
    }


def _holds(repository: Repository, snapshot: Snapshot, path: str) -> bool:
    """Return whether the snapshot has an entry at ``path``. Raises IntegrityError (a damaged tree)."""
    try:
        find_node(repository, snapshot, path)
    except PathNotFound:
        return False
    return True
