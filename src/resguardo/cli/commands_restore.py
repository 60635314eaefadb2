"""The ``restore`` command: a snapshot, or the part of it that patterns select, back into a folder."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.output import Output, format_duration, format_size
from resguardo.cli.session import opened_repository, settings_of, shared_lock

if TYPE_CHECKING:
    from resguardo.engine.restorer import RestoreResult
    from resguardo.engine.snapshot import Snapshot


def restore(
    ctx: typer.Context,
    snapshot_id: Annotated[
        str, typer.Argument(metavar="SNAPSHOT", help="'latest' or a snapshot ID (prefix).")
    ],
    target: Annotated[
        str,
        typer.Option("--target", "-t", metavar="DIR", help="Folder to restore into (created when missing)."),
    ],
    include: Annotated[
        list[str] | None,
        typer.Option("--include", "-i", metavar="PATTERN", help="Restore only matching paths (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", "-e", metavar="PATTERN", help="Leave out matching paths (repeatable)."),
    ] = None,
) -> None:
    """Restore a snapshot into a folder: /etc/hosts comes back as DIR/etc/hosts.

    Entries already in the way are replaced; other files in the folder are left alone.

    \f
    Raises:
        ConfigurationError: a pattern is malformed.
        SnapshotNotFound: no snapshot matches SNAPSHOT.
        RepositoryLocked: another process holds an exclusive lock.
        TargetError: the target cannot be created or written, or the disk filled up.
        ResguardoError: some entries could not be restored, or were damaged (after the summary).
    """
    from resguardo.cli.progress import reporting
    from resguardo.core.errors import ResguardoError
    from resguardo.engine.filters import PathFilter
    from resguardo.engine.restorer import restore as run_restore
    from resguardo.engine.snapshot import find_snapshot

    settings = settings_of(ctx)
    output = settings.output
    includes, excludes = include or [], exclude or []
    PathFilter([*includes, *excludes])
    started = time.monotonic()
    with opened_repository(settings) as repository, shared_lock(repository, output):
        snapshot = find_snapshot(repository, snapshot_id)
        with reporting(output, "restore") as reporter:
            result = run_restore(
                repository, snapshot, target, includes=includes, excludes=excludes, reporter=reporter
            )
    seconds = time.monotonic() - started
    _print_summary(output, snapshot, target, result, seconds)
    if not result.complete:
        raise ResguardoError(
            f"restore incomplete: {len(result.errors)} entries could not be restored, "
            f"{len(result.damaged)} are damaged",
            "see the messages above; for damaged data run 'resguardo check --read-data'",
        )


def summary_document(
    snapshot: Snapshot, target: str, result: RestoreResult, seconds: float
) -> dict[str, Any]:
    """Return the fields of the JSON ``summary`` line of a restore."""
    return {
        "operation": "restore",
        "snapshot_id": snapshot.id,
        "short_id": snapshot.short_id,
        "target": target,
        "files_restored": result.files_restored,
        "directories": result.directories,
        "bytes_written": result.bytes_written,
        "duration_seconds": round(seconds, 3),
        "complete": result.complete,
        "errors": [{"path": path, "message": message} for path, message in result.errors],
        "damaged": result.damaged,
    }


def _print_summary(
    output: Output, snapshot: Snapshot, target: str, result: RestoreResult, seconds: float
) -> None:
    """Print what the restore did: a JSON ``summary`` line, or a few lines of text."""
    if output.json_mode:
        output.json_line("summary", summary_document(snapshot, target, result, seconds))
        return
    if result.damaged:
        output.result(
            "Damaged (restored with holes, or skipped):\n" + "\n".join(f"  {path}" for path in result.damaged)
        )
    output.summary(
        f"restored snapshot {snapshot.short_id} into {target}: {result.files_restored} files, "
        f"{result.directories} directories, {format_size(result.bytes_written)} in {format_duration(seconds)}"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(restore)
