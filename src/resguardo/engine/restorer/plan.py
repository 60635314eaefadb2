"""The plan of a restore: directories to restore and the jobs handed to the workers.

This module owns the data that flows from the walker thread to the calling thread
(:class:`_Directory`, with its entries and hard links) and from the calling thread to the workers
and back (:class:`_Piece`, :class:`_Group`, :class:`_Job`, :class:`_Outcome`); these travel to
worker processes pickled, so they are plain dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resguardo.engine.index import BlobLocation
from resguardo.engine.restorer.writing import Identity, _FatalTargetError
from resguardo.engine.tree import Node


@dataclass(slots=True, eq=False)
class _Directory:
    """A directory to restore: its node (None for the target itself) and what goes in it."""

    name: bytes
    path: bytes
    node: Node | None
    parent: _Directory | None
    wanted: bool
    entries: list[Node] = field(default_factory=list)
    links: list[tuple[Node, _Directory, bytes]] = field(default_factory=list)
    fd: int = -1
    identity: Identity = (0, 0)
    created: bool = False
    failed: bool = False
    inheriting: bool = False
    """New entries may take their group (setgid bit) or permissions (default ACL) from here."""


@dataclass(slots=True)
class _Piece:
    """A range of chunks of a large file that the calling thread created."""

    file_id: int
    node: Node
    first: int
    last: int
    offset: int
    length: int
    identity: Identity
    fd: int = -1


@dataclass(slots=True)
class _Group:
    """Entries of one directory: found by ``fd`` (threads) or ``path`` and ``identity`` (processes)."""

    path: bytes
    identity: Identity
    inheriting: bool
    tasks: list[Node | _Piece] = field(default_factory=list)
    fd: int = -1


@dataclass(slots=True)
class _Job:
    """What one worker does at once: entries of one or more directories, and where their blobs are."""

    groups: list[_Group]
    locations: dict[bytes, BlobLocation] | None = None


@dataclass(slots=True)
class _Outcome:
    """What a worker did with one job (read by the calling thread)."""

    files: int = 0
    bytes: int = 0
    done_files: int = 0
    done_bytes: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    pieces: list[tuple[int, list[str], str]] = field(default_factory=list)
    fatal: _FatalTargetError | None = None
    crash: str = ""
