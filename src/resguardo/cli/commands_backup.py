"""The ``backup`` command: files and folders, or standard input, into a new snapshot."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.output import Output, format_duration, format_size
from resguardo.cli.session import cache_directory, opened_repository, settings_of, shared_lock

if TYPE_CHECKING:
    from resguardo.engine.archiver import BackupResult


def _patterns(excludes: list[str], exclude_files: list[str]) -> list[str]:
    """Return the exclude patterns from the command line and the pattern files, checked.

    Raises:
        ConfigurationError: a pattern is malformed, or a pattern file cannot be read.
    """
    from resguardo.engine.filters import PathFilter, read_pattern_file

    patterns = list(excludes)
    for path in exclude_files:
        patterns.extend(read_pattern_file(path))
    PathFilter(patterns)
    return patterns


def _check_arguments(
    paths: list[str], stdin: bool, stdin_name: str | None, parent: str | None, force: bool
) -> None:
    """Refuse combinations of arguments that make no sense.

    Raises:
        UsageError: paths with --stdin, neither, --stdin-name without --stdin, or --parent with --force.
    """
    from resguardo.core.errors import UsageError

    if stdin and paths:
        raise UsageError("give either paths or --stdin, not both")
    if not stdin and not paths:
        raise UsageError("nothing to back up", "give one or more paths, or --stdin with --stdin-name")
    if stdin_name is not None and not stdin:
        raise UsageError("--stdin-name is only used with --stdin")
    if parent is not None and force:
        raise UsageError(
            "--parent and --force contradict each other", "--force reads every file: drop --parent"
        )


def backup(
    ctx: typer.Context,
    *,
    paths: Annotated[
        list[str] | None, typer.Argument(metavar="PATH...", help="Files and folders to back up.")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", "-e", metavar="PATTERN", help="Leave out matching paths (repeatable)."),
    ] = None,
    exclude_file: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-file",
            metavar="FILE",
            help="Read exclude patterns from a file, one per line (repeatable).",
        ),
    ] = None,
    one_file_system: Annotated[
        bool, typer.Option("--one-file-system", "-x", help="Do not cross into other file systems.")
    ] = False,
    exclude_caches: Annotated[
        bool,
        typer.Option("--exclude-caches", help="Leave out the contents of folders tagged with CACHEDIR.TAG."),
    ] = False,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="Label the snapshot (repeatable).")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", metavar="NAME", help="Host name recorded in the snapshot.")
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option("--parent", metavar="ID", help="Compare with this snapshot instead of the latest."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Read every file again (no parent snapshot).")
    ] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Back up what standard input carries, as one file.")
    ] = False,
    stdin_name: Annotated[
        str | None,
        typer.Option("--stdin-name", metavar="NAME", help="File name for --stdin (default: stdin)."),
    ] = None,
    postgresql: Annotated[
        str | None,
        typer.Option(
            "--postgresql",
            metavar="URL",
            help="Dump every database of this PostgreSQL server (postgresql://user@host:port/).",
        ),
    ] = None,
    mysql: Annotated[
        str | None,
        typer.Option(
            "--mysql",
            metavar="URL",
            help="Dump every database of this MySQL or MariaDB server (mysql://...).",
        ),
    ] = None,
    sqlite: Annotated[
        list[str] | None,
        typer.Option("--sqlite", metavar="FILE", help="Copy this SQLite database consistently (repeatable)."),
    ] = None,
    database: Annotated[
        list[str] | None,
        typer.Option(
            "--database", metavar="NAME", help="Dump only this database of the server (repeatable)."
        ),
    ] = None,
    database_password_file: Annotated[
        str | None,
        typer.Option(
            "--database-password-file",
            metavar="FILE",
            help="Read the database password from FILE (else RESGUARDO_DATABASE_PASSWORD or the URL).",
        ),
    ] = None,
    parallel: Annotated[
        int, typer.Option("--parallel", metavar="N", help="Databases dumped at once (default 3).")
    ] = 3,
    no_mysql_users: Annotated[
        bool, typer.Option("--no-mysql-users", help="Leave out MariaDB's accounts and grants.")
    ] = False,
    ssh: Annotated[
        str | None,
        typer.Option(
            "--ssh",
            metavar="[USER@]HOST[:PORT]",
            help="Back up PATHs of this client server over SSH (nothing to install there); with "
            "--postgresql or --mysql, run the dumps there (the URL as seen from that server).",
        ),
    ] = None,
    ssh_key_file: Annotated[
        str | None,
        typer.Option(
            "--ssh-key-file",
            metavar="FILE",
            help="With --ssh: the private key to log in with (else ssh-agent, ~/.ssh/id_*).",
        ),
    ] = None,
    ssh_known_hosts: Annotated[
        str | None,
        typer.Option(
            "--ssh-known-hosts",
            metavar="FILE",
            help="With --ssh: the known_hosts file holding the client's host key (else ~/.ssh/known_hosts).",
        ),
    ] = None,
    ssh_parallel: Annotated[
        int, typer.Option("--ssh-parallel", metavar="N", help="With --ssh: files read at once (default 8).")
    ] = 8,
    ssh_no_tar: Annotated[
        bool,
        typer.Option(
            "--ssh-no-tar", help="With --ssh: read every file over SFTP, small ones too (no tar streams)."
        ),
    ] = False,
) -> None:
    """Back up files and folders (here, or on a client server over SSH), standard input, or databases.

    Exit code 3 means that the snapshot was saved, but some files could not be read.

    \f
    Raises:
        UsageError, ConfigurationError: contradictory arguments, or a malformed pattern.
        SourceError: a given path cannot be backed up at all, or a database dump failed.
        RepositoryLocked: another process holds an exclusive lock.
        BackupIncomplete: the snapshot was saved without the files that could not be read.
        StorageError: the repository could not be written.
    """
    from resguardo.cli.databases import DatabaseChoice, backup_databases, check_choice
    from resguardo.cli.progress import reporting, shows_bar
    from resguardo.cli.sshtrees import SshChoice, backup_over_ssh, check_ssh_choice, print_network_line
    from resguardo.core.errors import BackupIncomplete
    from resguardo.engine.archiver import BackupOptions, backup_stream
    from resguardo.engine.archiver import backup as run_backup

    settings = settings_of(ctx)
    output = settings.output
    sources = paths or []
    choice = DatabaseChoice(
        postgresql,
        mysql,
        sqlite or [],
        database or [],
        database_password_file,
        parallel,
        mysql_users=not no_mysql_users,
    )
    check_choice(choice, paths=bool(sources), stdin=stdin)
    over_ssh = SshChoice(ssh, ssh_key_file, ssh_known_hosts, ssh_parallel, use_tar=not ssh_no_tar)
    check_ssh_choice(over_ssh, stdin=stdin, databases=bool(choice.sqlite), exclude_caches=exclude_caches)
    if choice.given:
        backup_databases(settings, choice, tag or [], host, over_ssh if over_ssh.given else None)
        return
    _check_arguments(sources, stdin, stdin_name, parent, force)
    options = BackupOptions(
        excludes=_patterns(exclude or [], exclude_file or []),
        exclude_caches=exclude_caches,
        one_file_system=one_file_system,
        tags=tag or [],
        hostname=host,
        parent=parent,
        use_parent=not force,
        cache_dir=cache_directory(),
        estimate_totals=shows_bar(output),
    )
    if over_ssh.given:
        result = backup_over_ssh(settings, over_ssh, sources, options)
    else:
        with (
            opened_repository(settings) as repository,
            shared_lock(repository, output),
            reporting(output, "backup") as reporter,
        ):
            if stdin:
                result = backup_stream(repository, sys.stdin.buffer, stdin_name or "stdin", options, reporter)
            else:
                result = run_backup(repository, sources, options, reporter)
    _print_summary(output, result)
    print_network_line(output, result)
    if result.partial:
        count = len(result.unreadable)
        raise BackupIncomplete(
            f"{count} file{'s' if count != 1 else ''} could not be read; "
            f"snapshot {result.snapshot.short_id} was saved without {'them' if count != 1 else 'it'}",
            "make them readable by this user, or leave them out with --exclude",
        )


def summary_document(result: BackupResult) -> dict[str, Any]:
    """Return the fields of the JSON ``summary`` line of a backup."""
    snapshot = result.snapshot
    return {
        "operation": "backup",
        "snapshot_id": snapshot.id,
        "short_id": snapshot.short_id,
        "parent": snapshot.parent,
        "paths": snapshot.paths,
        "hostname": snapshot.hostname,
        "tags": snapshot.tags,
        **snapshot.summary,
        "partial": result.partial,
        "unreadable": [{"path": path, "message": message} for path, message in result.unreadable],
    }


def _print_summary(output: Output, result: BackupResult) -> None:
    """Print what the backup did: JSON ``summary`` line, or a few lines of text."""
    if output.json_mode:
        output.json_line("summary", summary_document(result))
        return
    summary = result.snapshot.summary
    output.summary(
        f"Files:        {summary.get('files_new', 0)} new, {summary.get('files_changed', 0)} changed, "
        f"{summary.get('files_unchanged', 0)} unchanged\n"
        f"Directories:  {summary.get('directories', 0)}\n"
        f"Added:        {format_size(summary.get('data_added', 0))}\n"
        f"Processed:    {summary.get('total_files_processed', 0)} files, "
        f"{format_size(summary.get('total_bytes_processed', 0))} "
        f"in {format_duration(float(summary.get('duration_seconds', 0)))}"
    )
    if output.verbose:
        parent = result.snapshot.parent
        output.summary(
            f"Parent:       {parent[:8] if parent else 'none (every file was read)'}\n"
            f"Blobs added:  {summary.get('data_blobs', 0)} data, {summary.get('tree_blobs', 0)} trees"
        )
    if result.unreadable:
        lines = [f"  {path}: {message}" for path, message in result.unreadable]
        output.result(f"Unreadable files ({len(lines)}), not in the snapshot:\n" + "\n".join(lines))
    output.summary(f"snapshot {result.snapshot.short_id} saved")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(backup)
