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
    *,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", metavar="DIR", help="Folder to restore into (created when missing)."),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", "-i", metavar="PATTERN", help="Restore only matching paths (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", "-e", metavar="PATTERN", help="Leave out matching paths (repeatable)."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", metavar="NAME", help="Restore this database of the snapshot (with --to)."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="TARGET",
            help="Where --database goes: postgresql://.../NAME, mysql://.../NAME or a SQLite file.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the database (or file) --to names if it exists.")
    ] = False,
    database_password_file: Annotated[
        str | None,
        typer.Option(
            "--database-password-file", metavar="FILE", help="Read the target's password from FILE."
        ),
    ] = None,
    ssh: Annotated[
        str | None,
        typer.Option(
            "--ssh",
            metavar="[USER@]HOST[:PORT]",
            help="With --database: run pg_restore or mariadb on this server over SSH (--to as seen from it).",
        ),
    ] = None,
    ssh_key_file: Annotated[
        str | None,
        typer.Option("--ssh-key-file", metavar="FILE", help="With --ssh: the private key to log in with."),
    ] = None,
    ssh_known_hosts: Annotated[
        str | None,
        typer.Option(
            "--ssh-known-hosts", metavar="FILE", help="With --ssh: the known_hosts file holding its host key."
        ),
    ] = None,
) -> None:
    """Restore a snapshot into a folder (/etc/hosts comes back as DIR/etc/hosts), or one database.

    Entries already in the way are replaced; other files in the folder are left alone. With
    --database NAME --to TARGET, the dump of that database goes into a database (or SQLite file);
    an existing one is replaced only with --overwrite.

    \f
    Raises:
        ConfigurationError: a pattern is malformed.
        SnapshotNotFound: no snapshot matches SNAPSHOT.
        RepositoryLocked: another process holds an exclusive lock.
        TargetError: the target cannot be created or written, or the disk filled up.
        ResguardoError: some entries could not be restored, or were damaged (after the summary).
    """
    from resguardo.cli.databases import restore_database
    from resguardo.cli.progress import reporting
    from resguardo.cli.sshtrees import SshChoice, check_ssh_choice
    from resguardo.core.errors import ResguardoError, UsageError
    from resguardo.engine.filters import PathFilter
    from resguardo.engine.restorer import restore as run_restore
    from resguardo.engine.snapshot import find_snapshot

    settings = settings_of(ctx)
    output = settings.output
    target = _check_restore_arguments(target, database, to, overwrite, bool(include or exclude))
    over_ssh = SshChoice(ssh, ssh_key_file, ssh_known_hosts)
    check_ssh_choice(over_ssh, stdin=False, databases=False, exclude_caches=False)
    if over_ssh.given and database is None:
        raise UsageError(
            "--ssh restores a --database into a server reached over SSH", "add --database and --to"
        )
    if database is not None and to is not None:
        restore_database(
            settings,
            snapshot_id,
            database,
            to,
            overwrite=overwrite,
            password_file=database_password_file,
            ssh=over_ssh if over_ssh.given else None,
        )
        return
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


def _check_restore_arguments(
    target: str | None, database: str | None, to: str | None, overwrite: bool, patterns: bool
) -> str:
    """Return the target folder ("" for a database restore) once the options agree.

    Raises:
        UsageError: neither --target nor --database, both, --database without --to (or the reverse),
            patterns with --database, or --overwrite without --database.
    """
    from resguardo.core.errors import UsageError

    if database is None and to is None:
        if target is None:
            raise UsageError("give --target DIR, or --database NAME with --to")
        if overwrite:
            raise UsageError(
                "--overwrite is only used with --database", "a restore into a folder replaces entries anyway"
            )
        return target
    if database is None or to is None:
        raise UsageError(
            "--database and --to go together", "e.g. --database sales --to postgresql://host/sales"
        )
    if target is not None or patterns:
        raise UsageError("--target, --include and --exclude do not apply to --database")
    return ""


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
