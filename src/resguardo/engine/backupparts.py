"""Pieces every kind of backup shares: the host it records, the parent it picks, and the nodes of streams.

A backup of file trees (:mod:`resguardo.engine.archiver`), of one stream (``--stdin``) and of several
named streams (:mod:`resguardo.engine.streams`) all record the host the same way, compare with a parent
chosen the same way, and describe content that has no file of its own with the same synthetic nodes.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from resguardo.core.errors import SnapshotNotFound
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot, find_snapshot
from resguardo.engine.tree import DIRECTORY, FILE, Node
from resguardo.engine.walk import user_name

STREAM_FILE_MODE = 0o600
STREAM_DIRECTORY_MODE = 0o700


def default_hostname(hostname: str | None) -> str:
    """Return ``hostname``, or this machine's name when it is None or empty."""
    return hostname or socket.gethostname()


def select_parent(
    repository: Repository,
    *,
    use_parent: bool,
    parent: str | None,
    paths: list[str],
    hostname: str,
) -> Snapshot | None:
    """Return the snapshot a backup compares with, or None.

    Args:
        repository: the open repository.
        use_parent: False means no parent at all.
        parent: an explicit snapshot reference; None picks the latest of the same host and paths.
        paths: the paths (or stream names) of the backup.
        hostname: the host the backup records.

    Raises:
        SnapshotNotFound: ``parent`` names no snapshot.
    """
    if not use_parent:
        return None
    if parent:
        return find_snapshot(repository, parent)
    try:
        return find_snapshot(repository, "latest", hostname=hostname, paths=paths)
    except SnapshotNotFound:
        return None


def _nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def stream_file_node(name: bytes, moment: datetime) -> Node:
    """Return the node of a file read from a stream: owned by this user, mode 0600, dated ``moment``.

    The caller fills in ``content`` and ``size``.
    """
    return Node(
        name=name,
        type=FILE,
        mode=STREAM_FILE_MODE,
        uid=os.getuid(),
        gid=os.getgid(),
        user=user_name(os.getuid()),
        mtime_ns=_nanoseconds(moment),
    )


def stream_directory_node(name: bytes, subtree: bytes, moment: datetime) -> Node:
    """Return the node of a folder that groups streams (no such folder exists on disk): mode 0700."""
    return Node(
        name=name,
        type=DIRECTORY,
        mode=STREAM_DIRECTORY_MODE,
        uid=os.getuid(),
        gid=os.getgid(),
        user=user_name(os.getuid()),
        mtime_ns=_nanoseconds(moment),
        subtree=subtree,
    )
