"""Snapshots: what was backed up, when, from where, pointing to the root tree.

A snapshot file ``snapshots/<id>`` is an envelope around a msgpack map (see docs/format.md).
Paths are stored as bytes, exactly as the file system gave them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgpack

from resguardo.core.errors import IntegrityError, ObjectNotFound, SnapshotNotFound
from resguardo.engine.repository import Repository

SNAPSHOT_FORMAT_VERSION = 1
REPAIRED_TAG = "repaired"


@dataclass(frozen=True, slots=True)
class LostPath:
    """A path whose content a repair could not keep (see ``repair snapshots`` in docs/format.md).

    Attributes:
        path: the absolute path in the original snapshot.
        marked_as: the absolute path of what is left of it in the repaired snapshot (renamed with
            ``.damaged``); equal to ``path`` only for the root of the snapshot.
        type: the tree node type, ``file`` or ``dir``.
        missing_blobs: content blobs of a file that no pack holds any more (0 for a directory).
        bytes_lost: bytes of a file's content that are gone (0 for a directory, whose size is unknown).
        reason: why the content was lost, e.g. its tree could not be read.
    """

    path: str
    marked_as: str
    type: str
    missing_blobs: int = 0
    bytes_lost: int = 0
    reason: str = ""

    def to_map(self) -> dict[str, Any]:
        """Return the entry as stored in a snapshot document (paths as bytes)."""
        return {
            "path": os.fsencode(self.path),
            "marked_as": os.fsencode(self.marked_as),
            "type": self.type,
            "missing_blobs": self.missing_blobs,
            "bytes_lost": self.bytes_lost,
            "reason": self.reason,
        }

    def to_json(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready map."""
        return {
            "path": self.path,
            "marked_as": self.marked_as,
            "type": self.type,
            "missing_blobs": self.missing_blobs,
            "bytes_lost": self.bytes_lost,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RepairRecord:
    """What ``repair snapshots`` did to make a snapshot: the one it replaces, when, and what was lost."""

    original: str
    time: datetime
    lost: list[LostPath] = field(default_factory=list)

    def to_map(self) -> dict[str, Any]:
        """Return the record as stored in a snapshot document."""
        return {
            "original": self.original,
            "time": self.time.isoformat(),
            "lost": [item.to_map() for item in self.lost],
        }

    @classmethod
    def from_map(cls, stored: dict[str, Any]) -> RepairRecord:
        """Return the record from its stored map.

        Raises:
            KeyError, TypeError, ValueError: the map is malformed (the snapshot's parser reports it).
        """
        lost = [
            LostPath(
                path=os.fsdecode(item["path"]),
                marked_as=os.fsdecode(item["marked_as"]),
                type=str(item["type"]),
                missing_blobs=int(item.get("missing_blobs", 0)),
                bytes_lost=int(item.get("bytes_lost", 0)),
                reason=str(item.get("reason", "")),
            )
            for item in stored.get("lost", [])
        ]
        return cls(original=str(stored["original"]), time=datetime.fromisoformat(stored["time"]), lost=lost)

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready map."""
        return {
            "original": self.original,
            "time": self.time.isoformat(),
            "lost": [item.to_json() for item in self.lost],
        }


@dataclass(frozen=True, slots=True)
class CopyOrigin:
    """Where a copied snapshot came from: the source repository's ``id`` and the snapshot's ID there."""

    repository: str
    snapshot: str

    def to_map(self) -> dict[str, str]:
        """Return the origin as stored in the snapshot document (and in JSON output)."""
        return {"repository": self.repository, "snapshot": self.snapshot}

    @classmethod
    def from_map(cls, stored: object) -> CopyOrigin | None:
        """Return the origin from its stored map, or None when there is none.

        Raises:
            TypeError: the stored value is not a map of two strings.
        """
        if stored is None:
            return None
        if not isinstance(stored, dict):
            raise TypeError("copied_from is not a map")
        repository, snapshot = stored["repository"], stored["snapshot"]
        if not isinstance(repository, str) or not isinstance(snapshot, str):
            raise TypeError("copied_from holds a value that is not text")
        return cls(repository, snapshot)


@dataclass(slots=True)
class Snapshot:
    """One snapshot; ``id`` is the hex name of its file (empty until saved)."""

    time: datetime
    tree: bytes
    paths: list[str]
    hostname: str
    username: str = ""
    tags: list[str] = field(default_factory=list)
    parent: str | None = None
    excludes: list[str] = field(default_factory=list)
    program_version: str = ""
    summary: dict[str, int | float] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    repair: RepairRecord | None = None
    copied_from: CopyOrigin | None = None
    streams: list[dict[str, str | int]] = field(default_factory=list)
    id: str = ""

    @property
    def short_id(self) -> str:
        """The first eight hex digits of the ID, as shown in listings."""
        return self.id[:8]

    @property
    def partial(self) -> bool:
        """True when some files could not be read during the backup."""
        return bool(self.unreadable)

    def to_document(self) -> bytes:
        """Return the msgpack document stored (encrypted) in the snapshot file."""
        document: dict[str, Any] = {
            "version": SNAPSHOT_FORMAT_VERSION,
            "time": self.time.isoformat(),
            "tree": self.tree,
            "paths": [os.fsencode(path) for path in self.paths],
            "hostname": self.hostname,
            "username": self.username,
            "tags": self.tags,
            "parent": self.parent,
            "excludes": self.excludes,
            "program_version": self.program_version,
            "summary": self.summary,
            "unreadable": [os.fsencode(path) for path in self.unreadable],
        }
        if self.repair is not None:
            document["repair"] = self.repair.to_map()
        if self.copied_from is not None:
            document["copied_from"] = self.copied_from.to_map()
        if self.streams:
            document["streams"] = self.streams
        data: bytes = msgpack.packb(document)
        return data

    @classmethod
    def from_document(cls, snapshot_id: str, data: bytes) -> Snapshot:
        """Parse a decrypted snapshot document.

        Raises:
            IntegrityError: the document is malformed.
        """
        try:
            document = msgpack.unpackb(data)
            if document["version"] != SNAPSHOT_FORMAT_VERSION:
                raise IntegrityError(
                    f"snapshot {snapshot_id[:8]} has unsupported version {document['version']}"
                )
            tree = document["tree"]
            if not isinstance(tree, bytes) or len(tree) != 32:
                raise IntegrityError(f"snapshot {snapshot_id[:8]} has a malformed tree reference")
            repair = document.get("repair")
            return cls(
                id=snapshot_id,
                time=datetime.fromisoformat(document["time"]),
                tree=tree,
                paths=[os.fsdecode(path) for path in document["paths"]],
                hostname=str(document["hostname"]),
                username=str(document.get("username", "")),
                tags=[str(tag) for tag in document.get("tags", [])],
                parent=document.get("parent"),
                excludes=[str(item) for item in document.get("excludes", [])],
                program_version=str(document.get("program_version", "")),
                summary=dict(document.get("summary", {})),
                unreadable=[os.fsdecode(path) for path in document.get("unreadable", [])],
                repair=None if repair is None else RepairRecord.from_map(repair),
                copied_from=CopyOrigin.from_map(document.get("copied_from")),
                streams=_parse_streams(document.get("streams", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError, msgpack.ExtraData) as error:
            raise IntegrityError(f"snapshot {snapshot_id[:8]} is malformed: {error}") from None

    def to_json(self) -> dict[str, Any]:
        """Return the snapshot as a JSON-ready map (for ``--json`` output)."""
        return {
            "id": self.id,
            "short_id": self.short_id,
            "time": self.time.isoformat(),
            "tree": self.tree.hex(),
            "paths": self.paths,
            "hostname": self.hostname,
            "username": self.username,
            "tags": self.tags,
            "parent": self.parent,
            "excludes": self.excludes,
            "program_version": self.program_version,
            "summary": self.summary,
            "partial": self.partial,
            "unreadable": self.unreadable,
            "repair": None if self.repair is None else self.repair.to_json(),
            "copied_from": None if self.copied_from is None else self.copied_from.to_map(),
            "streams": self.streams,
        }


def _parse_streams(stored: object) -> list[dict[str, str | int]]:
    """Return the ``streams`` descriptions of a snapshot document (see docs/format.md).

    Raises:
        TypeError: the value is not a list of maps of text to text or integers, each with a ``name``.
    """
    if not isinstance(stored, list):
        raise TypeError("streams is not a list")
    streams: list[dict[str, str | int]] = []
    for item in stored:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise TypeError("a stream description is not a map with a name")
        for key, value in item.items():
            if not isinstance(key, str) or not isinstance(value, str | int) or isinstance(value, bool):
                raise TypeError("a stream description holds a value that is neither text nor an integer")
        streams.append(dict(item))
    return streams


def load_snapshot(repository: Repository, snapshot_id: str) -> Snapshot:
    """Load one snapshot by its full ID.

    Raises:
        SnapshotNotFound: no snapshot has that ID.
        IntegrityError: the snapshot file is damaged.
    """
    try:
        return Snapshot.from_document(snapshot_id, repository.load_snapshot_document(snapshot_id))
    except ObjectNotFound:
        raise SnapshotNotFound(f"snapshot {snapshot_id} not found") from None


def list_snapshots(repository: Repository, *, skip_damaged: bool = True) -> list[Snapshot]:
    """Return every snapshot, oldest first.

    Args:
        skip_damaged: leave out snapshots whose file is damaged (``check`` reports them), else raise.

    Raises:
        IntegrityError: a snapshot is damaged and ``skip_damaged`` is false.
    """
    snapshots = []
    for snapshot_id in repository.snapshot_ids():
        try:
            snapshots.append(load_snapshot(repository, snapshot_id))
        except (IntegrityError, SnapshotNotFound):
            if not skip_damaged:
                raise
    snapshots.sort(key=lambda snapshot: (snapshot.time, snapshot.id))
    return snapshots


def find_snapshot(
    repository: Repository,
    reference: str,
    *,
    hostname: str | None = None,
    paths: list[str] | None = None,
    tags: list[str] | None = None,
) -> Snapshot:
    """Return the snapshot ``reference`` names: ``latest`` or a unique ID prefix.

    ``latest`` may be narrowed by hostname, paths and tags.

    Raises:
        SnapshotNotFound: nothing matches, or a prefix matches several snapshots.
    """
    if reference == "latest":
        candidates = [
            snapshot
            for snapshot in list_snapshots(repository)
            if (hostname is None or snapshot.hostname == hostname)
            and (paths is None or sorted(snapshot.paths) == sorted(paths))
            and (not tags or set(tags) <= set(snapshot.tags))
        ]
        if not candidates:
            raise SnapshotNotFound("the repository has no matching snapshot")
        return candidates[-1]
    if not reference or any(character not in "0123456789abcdef" for character in reference.lower()):
        raise SnapshotNotFound(f"{reference!r} is not a snapshot ID", "give 'latest' or a hex ID prefix")
    matches = [
        snapshot_id for snapshot_id in repository.snapshot_ids() if snapshot_id.startswith(reference.lower())
    ]
    if not matches:
        raise SnapshotNotFound(f"no snapshot matches {reference!r}")
    if len(matches) > 1:
        raise SnapshotNotFound(
            f"{reference!r} matches {len(matches)} snapshots", "give more digits of the ID"
        )
    return load_snapshot(repository, matches[0])


def select_snapshots(
    snapshots: list[Snapshot], hostname: str | None, tags: list[str], paths: list[str]
) -> list[Snapshot]:
    """Return the snapshots of ``hostname`` (any when None) that carry all of ``tags`` and all of ``paths``.

    ``paths`` must be absolute and normalized, as snapshots store them. The order is kept.
    """
    wanted_paths = set(paths)
    return [
        snapshot
        for snapshot in snapshots
        if (hostname is None or snapshot.hostname == hostname)
        and set(tags) <= set(snapshot.tags)
        and wanted_paths <= set(snapshot.paths)
    ]
