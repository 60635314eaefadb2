"""Database sources on the command line: ``backup --postgresql/--mysql/--sqlite``, ``restore --database``."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resguardo.cli.output import Output, format_duration, format_size

if TYPE_CHECKING:
    from resguardo.cli.session import Settings
    from resguardo.cli.sshtrees import SshChoice
    from resguardo.engine.snapshot import Snapshot
    from resguardo.engine.streams import StreamSource

DATABASE_PASSWORD_ENV = "RESGUARDO_DATABASE_PASSWORD"  # noqa: S105 - the name of a variable, not a password


@dataclass(slots=True)
class DatabaseChoice:
    """The database sources a ``backup`` command names."""

    postgresql: str | None = None
    mysql: str | None = None
    sqlite: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    password_file: str | None = None
    parallel: int = 3
    mysql_users: bool = True

    @property
    def given(self) -> bool:
        """True when any database source is named."""
        return bool(self.postgresql or self.mysql or self.sqlite)


def database_password(password_file: str | None) -> str | None:
    """Return the database password from ``--database-password-file`` or RESGUARDO_DATABASE_PASSWORD.

    Raises:
        UsageError: the file cannot be read or is empty.
    """
    from resguardo.cli.passphrases import read_password_file

    if password_file is not None:
        return read_password_file(password_file).decode("utf-8")
    return os.environ.get(DATABASE_PASSWORD_ENV) or None


def check_choice(choice: DatabaseChoice, *, paths: bool, stdin: bool) -> None:
    """Refuse database options that contradict each other or other sources.

    Raises:
        UsageError: database sources with paths or --stdin, --database without exactly one server,
            or a --parallel below 1.
    """
    from resguardo.core.errors import UsageError

    if not choice.given:
        if choice.databases:
            raise UsageError("--database needs --postgresql or --mysql")
        return
    if paths or stdin:
        raise UsageError("give either paths, --stdin or databases, not several of them")
    if choice.databases and bool(choice.postgresql) == bool(choice.mysql):
        raise UsageError(
            "--database needs exactly one of --postgresql and --mysql", "back the two servers up in two runs"
        )
    if choice.parallel < 1:
        raise UsageError("--parallel must be at least 1")


def _streams_over_ssh(choice: DatabaseChoice, ssh: SshChoice, stack: ExitStack) -> list[StreamSource]:
    """Connect to the client (inside ``stack``) and return the streams of the dumps run there."""
    from resguardo.cli.sshtrees import ssh_connection
    from resguardo.sources.addresses import parse_address
    from resguardo.sources.sshmysql import SshMysqlSource
    from resguardo.sources.sshpostgresql import SshPostgresSource

    password = database_password(choice.password_file)
    commands = stack.enter_context(ssh_connection(ssh)).commands
    streams: list[StreamSource] = []
    if choice.postgresql:
        address = parse_address(choice.postgresql, "postgresql").with_password(password)
        streams += SshPostgresSource(commands, address, choice.databases).streams()
    if choice.mysql:
        address = parse_address(choice.mysql, "mysql").with_password(password)
        streams += SshMysqlSource(commands, address, choice.databases, users=choice.mysql_users).streams()
    return streams


def _stream_sources(choice: DatabaseChoice, stack: ExitStack) -> list[StreamSource]:
    """Open the chosen sources (inside ``stack``) and return their streams."""
    from resguardo.sources.addresses import parse_address
    from resguardo.sources.mysql import MysqlSource
    from resguardo.sources.postgresql import PostgresSource
    from resguardo.sources.sqlite import SqliteSource

    password = database_password(choice.password_file)
    streams: list[StreamSource] = []
    if choice.postgresql:
        address = parse_address(choice.postgresql, "postgresql").with_password(password)
        streams += stack.enter_context(PostgresSource(address, choice.databases)).streams()
    if choice.mysql:
        address = parse_address(choice.mysql, "mysql").with_password(password)
        source = MysqlSource(address, choice.databases, users=choice.mysql_users)
        streams += stack.enter_context(source).streams()
    if choice.sqlite:
        streams += SqliteSource(choice.sqlite).streams()
    return streams


def backup_databases(
    settings: Settings,
    choice: DatabaseChoice,
    tags: list[str],
    host: str | None,
    ssh: SshChoice | None = None,
) -> Snapshot:
    """Dump the chosen databases into one new snapshot and print what was stored.

    With ``ssh``, the dump tools run on that client server and their output streams back over SSH.

    Raises:
        SourceError: a server cannot be reached, a database does not exist, or a dump failed (no
            snapshot is saved then).
        UsageError, ConfigurationError: a malformed URL or password file.
        StorageError: the repository could not be written.
    """
    from resguardo.cli.progress import reporting
    from resguardo.cli.session import opened_repository, shared_lock
    from resguardo.engine.streams import StreamsOptions, backup_streams

    output = settings.output
    options = StreamsOptions(tags=tags, hostname=host, parallel=choice.parallel)
    with ExitStack() as stack:
        streams = _stream_sources(choice, stack) if ssh is None else _streams_over_ssh(choice, ssh, stack)
        repository = stack.enter_context(opened_repository(settings))
        stack.enter_context(shared_lock(repository, output))
        reporter = stack.enter_context(reporting(output, "backup"))
        snapshot = backup_streams(repository, streams, options, reporter).snapshot
    print_streams_summary(output, snapshot)
    return snapshot


def streams_summary_document(snapshot: Snapshot) -> dict[str, Any]:
    """Return the fields of the JSON ``summary`` line of a backup of databases."""
    return {
        "operation": "backup",
        "snapshot_id": snapshot.id,
        "short_id": snapshot.short_id,
        "parent": snapshot.parent,
        "paths": snapshot.paths,
        "hostname": snapshot.hostname,
        "tags": snapshot.tags,
        **snapshot.summary,
        "partial": False,
        "unreadable": [],
        "streams": snapshot.streams,
    }


def print_streams_summary(output: Output, snapshot: Snapshot) -> None:
    """Print each stream with its size, then the totals (or one JSON ``summary`` line)."""
    if output.json_mode:
        output.json_line("summary", streams_summary_document(snapshot))
        return
    width = max(len(str(stream["name"])) for stream in snapshot.streams)
    lines = [
        f"  {stream['name']!s:<{width}}  {format_size(int(stream['size']))}" for stream in snapshot.streams
    ]
    output.result("Streams:\n" + "\n".join(lines))
    summary = snapshot.summary
    output.summary(
        f"Added:        {format_size(summary.get('data_added', 0))}\n"
        f"Processed:    {len(snapshot.streams)} streams, "
        f"{format_size(summary.get('total_bytes_processed', 0))} "
        f"in {format_duration(float(summary.get('duration_seconds', 0)))}"
    )
    output.summary(f"snapshot {snapshot.short_id} saved")


def restore_database(
    settings: Settings,
    snapshot_id: str,
    database: str,
    to: str,
    *,
    overwrite: bool,
    password_file: str | None,
    ssh: SshChoice | None = None,
) -> None:
    """Restore the stream of ``database`` from a snapshot into the database or file ``to`` (a server as
    seen from the client ``ssh`` names, where the restore tool then runs).

    Raises:
        SnapshotNotFound: no such snapshot, or it holds no such database of the target's kind.
        TargetError: the target exists and ``overwrite`` is false, or the restore tool failed.
        SourceError: the target server cannot be reached.
    """
    import time

    from resguardo.cli.session import opened_repository, shared_lock
    from resguardo.engine.browse import open_file
    from resguardo.engine.snapshot import find_snapshot
    from resguardo.sources.restore import KIND_OF_TARGET, RestoreTarget, find_database_stream
    from resguardo.sources.restore import restore_database as run_restore

    output = settings.output
    target = RestoreTarget.parse(to)
    if target.address is not None:
        target = RestoreTarget(target.kind, target.address.with_password(database_password(password_file)))
    started = time.monotonic()
    with ExitStack() as stack:
        commands = None
        if ssh is not None:
            from resguardo.cli.sshtrees import ssh_connection

            commands = stack.enter_context(ssh_connection(ssh)).commands
        repository = stack.enter_context(opened_repository(settings))
        stack.enter_context(shared_lock(repository, output))
        snapshot = find_snapshot(repository, snapshot_id)
        stream = find_database_stream(
            snapshot.streams, database, KIND_OF_TARGET[target.kind], snapshot.short_id
        )
        chunks = open_file(repository, snapshot, "/" + str(stream["name"]))
        restored = run_restore(chunks, target, stream, overwrite=overwrite, ssh=commands)
    seconds = time.monotonic() - started
    if output.json_mode:
        output.json_line(
            "summary",
            {
                "operation": "restore",
                "snapshot_id": snapshot.id,
                "short_id": snapshot.short_id,
                "stream": stream["name"],
                "database": restored,
                "target": target.display(),
                "bytes": stream.get("size", 0),
                "duration_seconds": round(seconds, 3),
            },
        )
        return
    output.summary(
        f"restored {stream['name']} of snapshot {snapshot.short_id} into {target.kind} database {restored} "
        f"({format_size(int(stream.get('size', 0)))} in {format_duration(seconds)})"
    )
