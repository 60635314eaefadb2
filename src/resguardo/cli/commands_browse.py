"""Commands that read snapshots without restoring anything: ``snapshots``, ``ls``, ``diff``, ``stats``,
``dump``.
"""

from __future__ import annotations

import os
import stat
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.output import format_size, format_table, format_time
from resguardo.cli.session import opened_repository, settings_of
from resguardo.cli.snapshot_filters import HostFilter, PathFilter, TagFilter

if TYPE_CHECKING:
    from resguardo.engine.browse import Stats
    from resguardo.engine.snapshot import Snapshot
    from resguardo.engine.tree import Node

_TYPE_BITS = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "fifo": stat.S_IFIFO,
    "chardev": stat.S_IFCHR,
    "blockdev": stat.S_IFBLK,
    "socket": stat.S_IFSOCK,
}


def select_snapshots(
    snapshots: list[Snapshot], host: str | None, tags: list[str], paths: list[str]
) -> list[Snapshot]:
    """Return the snapshots of ``host`` (any when None) with all of ``tags`` and all of ``paths``."""
    from resguardo.engine.snapshot import select_snapshots

    return select_snapshots(
        snapshots, host, tags, [os.path.normpath(os.path.abspath(path)) for path in paths]
    )


def snapshots(
    ctx: typer.Context,
    host: HostFilter = None,
    tag: TagFilter = None,
    path: PathFilter = None,
) -> None:
    """List the snapshots, oldest first.

    \f
    Raises:
        RepositoryNotFound, WrongPassphrase: the repository cannot be opened.
    """
    from resguardo.engine.snapshot import list_snapshots

    settings = settings_of(ctx)
    output = settings.output
    with opened_repository(settings, with_index=False) as repository:
        chosen = select_snapshots(list_snapshots(repository), host, tag or [], path or [])
    if output.json_mode:
        output.json_document([snapshot.to_json() for snapshot in chosen])
        return
    rows = [
        [
            snapshot.short_id,
            format_time(snapshot.time),
            snapshot.hostname,
            ",".join(snapshot.tags),
            "\n".join(snapshot.paths),
            format_size(snapshot.summary.get("total_bytes_processed", 0))
            + (" (partial)" if snapshot.partial else ""),
        ]
        for snapshot in chosen
    ]
    output.result(format_table(["ID", "Time", "Host", "Tags", "Paths", "Size"], rows, right=[5]))
    output.summary(f"{len(chosen)} snapshot{'s' if len(chosen) != 1 else ''}")


def _mode_string(node: Node) -> str:
    """Return the ``ls -l`` style permissions of a node, such as ``-rw-r--r--`` or ``drwxr-xr-x``."""
    return stat.filemode(_TYPE_BITS.get(node.type, 0) | node.mode)


def node_document(path: str, node: Node) -> dict[str, Any]:
    """Return one entry of ``ls --json``."""
    return {
        "path": path,
        "name": os.fsdecode(node.name),
        "type": node.type,
        "mode": node.mode,
        "permissions": _mode_string(node),
        "uid": node.uid,
        "gid": node.gid,
        "user": node.user,
        "group": node.group,
        "size": node.size,
        "mtime": node.mtime_ns / 1e9,
        "link_target": os.fsdecode(node.target) if node.type == "symlink" else None,
    }


def ls(
    ctx: typer.Context,
    snapshot_id: Annotated[
        str, typer.Argument(metavar="SNAPSHOT", help="'latest' or a snapshot ID (prefix).")
    ],
    path: Annotated[
        str | None, typer.Argument(metavar="[PATH]", help="List only this folder (or file).")
    ] = None,
    long: Annotated[
        bool, typer.Option("--long", "-l", help="Permissions, owner, size and time of each entry.")
    ] = False,
) -> None:
    """List the files and folders in a snapshot.

    \f
    Raises:
        SnapshotNotFound: no snapshot matches SNAPSHOT, or PATH is not in it.
        IntegrityError: a tree cannot be read.
    """
    from resguardo.engine.browse import walk_snapshot
    from resguardo.engine.snapshot import find_snapshot

    settings = settings_of(ctx)
    output = settings.output
    with opened_repository(settings) as repository:
        snapshot = find_snapshot(repository, snapshot_id)
        entries = walk_snapshot(repository, snapshot, path)
        if output.json_mode:
            listing = [node_document(entry_path, node) for entry_path, node in entries]
            output.json_document({"snapshot": snapshot.to_json(), "entries": listing})
            return
        for entry_path, node in entries:
            output.result(_long_line(entry_path, node) if long else entry_path)


def _long_line(path: str, node: Node) -> str:
    """Return one line of ``ls -l``: permissions, owner, size, modification time, path."""
    moment = format_time(datetime.fromtimestamp(node.mtime_ns / 1e9, tz=UTC))
    owner = f"{node.user or node.uid}/{node.group or node.gid}"
    suffix = f" -> {os.fsdecode(node.target)}" if node.type == "symlink" else ""
    return f"{_mode_string(node)} {owner:<16} {node.size:>12} {moment} {path}{suffix}"


def diff(
    ctx: typer.Context,
    first_id: Annotated[str, typer.Argument(metavar="SNAPSHOT1")],
    second_id: Annotated[str, typer.Argument(metavar="SNAPSHOT2")],
) -> None:
    """Show what changed from SNAPSHOT1 to SNAPSHOT2.

    One line per path: + added, - removed, M modified (content, target or type), U metadata only.

    \f
    Raises:
        SnapshotNotFound: a snapshot reference matches nothing.
        IntegrityError: a tree that must be compared cannot be read.
    """
    from resguardo.engine.browse import diff_snapshots
    from resguardo.engine.snapshot import find_snapshot

    settings = settings_of(ctx)
    output = settings.output
    with opened_repository(settings) as repository:
        first = find_snapshot(repository, first_id)
        second = find_snapshot(repository, second_id)
        changes = list(diff_snapshots(repository, first, second))
    if output.json_mode:
        output.json_document(
            {"first": first.id, "second": second.id, "changes": [change.to_json() for change in changes]}
        )
        return
    for change in changes:
        output.result(str(change))
    output.summary(f"{len(changes)} changes from {first.short_id} to {second.short_id}")


def stats(
    ctx: typer.Context,
    snapshot_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[SNAPSHOT...]", help="Default: all.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            metavar="MODE",
            help="restore-size: what a restore writes; raw-data: what the repository stores.",
        ),
    ] = "restore-size",
) -> None:
    """Show the size of snapshots: as restored, or as stored after deduplication and compression.

    \f
    Raises:
        UsageError: the mode is unknown.
        SnapshotNotFound: a snapshot reference matches nothing.
        IntegrityError: a tree cannot be read.
    """
    from resguardo.core.errors import UsageError
    from resguardo.engine.browse import STATS_MODES, snapshot_stats
    from resguardo.engine.snapshot import find_snapshot, list_snapshots

    if mode not in STATS_MODES:
        raise UsageError(f"unknown mode {mode!r}", f"use --mode {' or --mode '.join(STATS_MODES)}")
    settings = settings_of(ctx)
    output = settings.output
    with opened_repository(settings) as repository:
        chosen = (
            [find_snapshot(repository, reference) for reference in snapshot_ids]
            if snapshot_ids
            else list_snapshots(repository)
        )
        result = snapshot_stats(repository, chosen, mode=mode)
    if output.json_mode:
        output.json_document(result.to_json())
        return
    output.result(_stats_text(result))


def _stats_text(result: Stats) -> str:
    """Return statistics as aligned ``name: value`` lines with sizes in binary units."""
    rows = [
        ("Snapshots", str(result.snapshots)),
        ("Files", str(result.files)),
        ("Directories", str(result.directories)),
        ("Restore size", format_size(result.bytes)),
    ]
    if result.mode == "raw-data":
        rows += [
            ("Unique blobs", f"{result.blobs} ({result.tree_blobs} trees)"),
            ("Raw data", format_size(result.raw_bytes)),
            ("Stored", format_size(result.stored_bytes)),
            ("Compression ratio", f"{result.compression_ratio:.2f}"),
            ("Deduplication ratio", f"{result.dedup_ratio:.2f}"),
        ]
        if result.missing_blobs:
            rows.append(("Missing from the index", f"{result.missing_blobs} blobs"))
    width = max(len(name) for name, _value in rows) + 2
    return "\n".join(f"{name + ':':<{width}}{value}" for name, value in rows)


def dump(
    ctx: typer.Context,
    snapshot_id: Annotated[
        str, typer.Argument(metavar="SNAPSHOT", help="'latest' or a snapshot ID (prefix).")
    ],
    file: Annotated[str, typer.Argument(metavar="FILE", help="The file's absolute path in the snapshot.")],
) -> None:
    """Write one file of a snapshot to standard output, byte for byte.

    \f
    Raises:
        SnapshotNotFound: no snapshot matches SNAPSHOT, or FILE is not in it.
        ResguardoError: FILE is a folder, a symbolic link or another kind of entry.
        IntegrityError, ObjectNotFound: some of its content cannot be read.
    """
    from resguardo.engine.browse import open_file
    from resguardo.engine.snapshot import find_snapshot

    settings = settings_of(ctx)
    with opened_repository(settings) as repository:
        snapshot = find_snapshot(repository, snapshot_id)
        stream = sys.stdout.buffer
        for block in open_file(repository, snapshot, file):
            stream.write(block)
        stream.flush()


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(snapshots)
    app.command()(ls)
    app.command()(diff)
    app.command()(stats)
    app.command()(dump)
