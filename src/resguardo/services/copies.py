"""Copies of a snapshot in the catalog's other repositories, and the intact one a failed restore offers.

``resguardo copy`` saves each copied snapshot with ``copied_from`` (the source repository's config id
and the snapshot's ID there). The same snapshot in repository B is therefore:

* a snapshot of B whose ``copied_from`` names A's config id and the snapshot's ID in A, or
* the snapshot of B that A's snapshot was itself copied from (A's ``copied_from`` names B), or a
  third repository's copy of that one.

:func:`find_copies` is the one lookup: it opens every other repository of the catalog with its sealed
credentials (in memory only) and lists where the snapshot is; a repository that cannot be opened is
noted, not fatal. Opening repositories costs, so it runs only when needed: when a restore's data check
failed (:func:`offer_copy`, which also checks the copy's needed data before offering it), or when a
person asks (``GET /api/v1/runs/{id}/copies``, a restore asked from a chosen repository, or one asked
from a snapshot whose trees cannot be read: :func:`unreadable_snapshot`). When the
catalog records copies itself, only :func:`find_copies` changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.catalog import RestoreKind, SecretKey
from resguardo.catalog.models import Repository as RepositoryRecord
from resguardo.core.errors import Conflict, ResguardoError
from resguardo.engine.snapshot import CopyOrigin, Snapshot, list_snapshots, load_snapshot
from resguardo.services.repositories import opened_repository
from resguardo.services.restore_data import check_needed_data


@dataclass(frozen=True)
class SnapshotIdentity:
    """What names one snapshot across repositories.

    Attributes:
        snapshot_id: the snapshot's ID in its repository.
        repository_config_id: that repository's config id (None: it could not be opened; copies are
            then matched by the snapshot's ID alone, which is unique in practice).
        origin: where the snapshot was itself copied from (None: it was backed up there).
    """

    snapshot_id: str
    repository_config_id: str | None = None
    origin: CopyOrigin | None = None

    @classmethod
    def of(cls, repository_config_id: str, snapshot: Snapshot) -> SnapshotIdentity:
        """Return the identity of ``snapshot`` of the repository with ``repository_config_id``."""
        return cls(snapshot.id, repository_config_id, snapshot.copied_from)

    def names(self) -> set[tuple[str | None, str]]:
        """Return every (repository config id, snapshot ID) this snapshot is known by."""
        known: set[tuple[str | None, str]] = {(self.repository_config_id, self.snapshot_id)}
        if self.origin is not None:
            known.add((self.origin.repository, self.origin.snapshot))
        return known

    def matches(self, repository_config_id: str, snapshot: Snapshot) -> bool:
        """Return whether ``snapshot`` of the repository ``repository_config_id`` is this snapshot."""
        known = self.names()
        origin = snapshot.copied_from
        if (repository_config_id, snapshot.id) in known:
            return True
        if origin is not None and (origin.repository, origin.snapshot) in known:
            return True
        if self.repository_config_id is None:
            return self.snapshot_id in (snapshot.id, origin.snapshot if origin else None)
        return False


@dataclass(frozen=True)
class SnapshotCopy:
    """The same snapshot in another catalog repository."""

    repository_id: int
    repository_name: str
    snapshot_id: str

    def to_json(self) -> dict[str, Any]:
        """Return the copy as the API and the restore's ``alternative`` show it."""
        return {
            "repository_id": self.repository_id,
            "repository_name": self.repository_name,
            "snapshot_id": self.snapshot_id,
        }


@dataclass
class CopySearch:
    """Where a snapshot's copies are, and the repositories that could not be searched (with why)."""

    copies: list[SnapshotCopy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def identity_of(
    session: Session, key: SecretKey, repository_id: int, snapshot_id: str, now: datetime
) -> tuple[SnapshotIdentity, str]:
    """Open repository ``repository_id`` and return the identity of its snapshot ``snapshot_id``, and
    a note ("" when it opened; else why not: the identity is then the snapshot's ID alone)."""
    try:
        with opened_repository(session, key, repository_id, now, create=False) as (repository, _c, _n):
            return SnapshotIdentity.of(repository.config.id, load_snapshot(repository, snapshot_id)), ""
    except ResguardoError as error:
        session.rollback()
        return SnapshotIdentity(snapshot_id), f"its own repository could not be read: {error.message}"


def find_copies(
    session: Session,
    key: SecretKey,
    repository_id: int,
    identity: SnapshotIdentity,
    now: datetime,
    *,
    among: Sequence[int] | None = None,
    cache_directory: str | None = None,
) -> CopySearch:
    """Return where the catalog's repositories other than ``repository_id`` hold the snapshot.

    Args:
        repository_id: the catalog repository the snapshot is known in (not searched).
        identity: the snapshot's identity there (:func:`identity_of`, or from the open repository).
        among: search only these catalog repositories (None: all the others).
        cache_directory: the engine's local metadata cache (None: none).

    Returns:
        The copies (by repository name) and a note for each repository that could not be opened.
    """
    statement = select(RepositoryRecord.id, RepositoryRecord.name).where(RepositoryRecord.id != repository_id)
    if among is not None:
        statement = statement.where(RepositoryRecord.id.in_(list(among)))
    others = session.execute(statement.order_by(RepositoryRecord.name)).all()
    search = CopySearch()
    for other_id, name in others:
        try:
            with opened_repository(
                session, key, other_id, now, create=False, cache_directory=cache_directory
            ) as (repository, _created, _note):
                if repository.config.id == identity.repository_config_id:
                    continue  # the same repository, entered twice in the catalog
                search.copies.extend(
                    SnapshotCopy(other_id, name, snapshot.id)
                    for snapshot in list_snapshots(repository)
                    if identity.matches(repository.config.id, snapshot)
                )
        except (ResguardoError, OSError) as error:
            session.rollback()
            search.notes.append(f"repository {name!r} could not be searched: {_reason(error)}")
    return search


def _reason(error: Exception) -> str:
    """Return what went wrong, for a note: a Resguardo error's message, or the system's."""
    return error.message if isinstance(error, ResguardoError) else f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class Offer:
    """What a failed restore offers instead: the intact copy (None: none), and what to say about it."""

    alternative: SnapshotCopy | None
    message: str
    log: list[str]


def copy_is_intact(
    session: Session,
    key: SecretKey,
    copy: SnapshotCopy,
    needs: tuple[RestoreKind, Sequence[str]],
    now: datetime,
    *,
    cache_directory: str | None = None,
) -> tuple[int, int]:
    """Read and check in the copy's repository every blob restoring ``needs`` (kind, items) reads;
    return (blobs, bytes).

    Raises:
        NeededDataDamaged: some of it is missing or damaged. ResguardoError: the copy cannot be read.
    """
    kind, items = needs
    with opened_repository(
        session, key, copy.repository_id, now, create=False, cache_directory=cache_directory
    ) as (repository, _created, _note):
        snapshot = load_snapshot(repository, copy.snapshot_id)
        return check_needed_data(repository, snapshot, kind, items)


def offer_copy(
    session: Session,
    key: SecretKey,
    source: tuple[int, SnapshotIdentity],
    needs: tuple[RestoreKind, Sequence[str]],
    now: datetime,
    *,
    cache_directory: str | None = None,
) -> Offer:
    """Look for the snapshot of a restore whose data check failed in the other repositories, check
    each copy's needed data, and return the first intact one with what to tell the person.

    Args:
        source: the restore's catalog repository and the identity of its snapshot there.
        needs: the restore's kind and items (what the copy must hold intact).
    """
    repository_id, identity = source
    search = find_copies(session, key, repository_id, identity, now, cache_directory=cache_directory)
    log = list(search.notes)
    damaged = []
    for copy in search.copies:
        where = f"the copy in repository {copy.repository_name!r} (snapshot {copy.snapshot_id[:8]})"
        try:
            blobs, size = copy_is_intact(session, key, copy, needs, now, cache_directory=cache_directory)
        except (ResguardoError, OSError) as error:
            session.rollback()
            log.append(f"{where} cannot be restored either: {_reason(error)}")
            damaged.append(copy.repository_name)
            continue
        log.append(f"{where} holds the data needed intact: {blobs} blobs, {size} bytes")
        message = (
            f"an intact copy of this snapshot is in repository {copy.repository_name!r} "
            f"(snapshot {copy.snapshot_id[:8]}): restore from the copy instead"
        )
        return Offer(copy, message, log)
    if damaged:
        names = ", ".join(repr(name) for name in damaged)
        message = f"the copy of this snapshot in repository {names} is damaged too: no intact copy"
    else:
        message = "no other repository of the catalog holds a copy of this snapshot"
    if search.notes:
        message += f" ({len(search.notes)} repositories could not be searched: see the log)"
    return Offer(None, message, log)


def unreadable_snapshot(
    session: Session, key: SecretKey, source: tuple[int, str], error: ResguardoError, now: datetime
) -> Conflict:
    """Return the error of a restore asked from a snapshot whose trees cannot be read in its repository
    (``source``: the catalog repository and the snapshot's ID there), naming a copy to ask from instead.
    """
    repository_id, snapshot_id = source
    identity, _note = identity_of(session, key, repository_id, snapshot_id, now)
    search = find_copies(session, key, repository_id, identity, now)
    message = (
        f"the snapshot cannot be read in its repository, so nothing can be restored from it: {error.message}"
    )
    if not search.copies:
        return Conflict(
            message, "no other repository of the catalog holds a copy of it; restore from another run"
        )
    copy = search.copies[0]
    return Conflict(
        message,
        f"its copy in repository {copy.repository_name!r} may be restored instead: "
        f"ask for the restore again with repository_id {copy.repository_id}",
    )
