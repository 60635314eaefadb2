"""Restore of a database stream into a server reached through a host over SSH: ``pg_restore`` or
``mariadb`` runs on that host, fed the stream through the channel's standard input.

As for a direct restore (:mod:`resguardo.sources.restore`), an existing database is replaced only with
``overwrite``, and a database this restore created is dropped again when the restore fails.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterable, Mapping

from resguardo.core.errors import ResguardoError, TargetError
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.sshcommand import SshCommands
from resguardo.sources.sshmysql import SshMysqlSource
from resguardo.sources.sshpostgresql import SshPostgresSource, quote_identifier
from resguardo.sources.tablestats import quote_mysql


def _refused(name: str, where: str) -> TargetError:
    return TargetError(
        f"database {name!r} already exists on {where}",
        "add --overwrite to replace it, or name another database in --to",
    )


def restore_postgresql_over_ssh(
    chunks: Iterable[bytes],
    target: DatabaseAddress,
    stream: Mapping[str, str | int],
    commands: SshCommands,
    *,
    overwrite: bool,
) -> str:
    """Restore a ``pg_dump`` custom-format stream with the host's ``pg_restore``; return the database.

    Raises:
        TargetError: the database exists and ``overwrite`` is false, or pg_restore failed.
        SourceError: the host or server cannot be reached, or no suitable pg_restore is there.
    """
    name = target.database or str(stream["database"])
    server = SshPostgresSource(commands, target.with_database(None))
    info = server.inspect()
    tools = server.tools().pick(
        max(info.major, int(stream.get("tool_version", 0))), target.display(), commands.where
    )
    if name in info.databases and not overwrite:
        raise _refused(name, server.display())
    if name in info.databases:
        _psql(server, f"DROP DATABASE {quote_identifier(name)} WITH (FORCE)")
    _psql(server, f"CREATE DATABASE {quote_identifier(name)} TEMPLATE template0")
    escaped = name.replace("\\", "\\\\").replace("'", "\\'")
    dbname = f"--dbname=dbname='{escaped}'"
    command = (
        f"{server.prefix()} {shlex.quote(tools.tool('pg_restore'))} --no-password --exit-on-error "
        f"--single-transaction {shlex.quote(dbname)}"
    )
    try:
        commands.feed(command, chunks, tool="pg_restore", secret=server.secret)
    except ResguardoError:
        with contextlib.suppress(ResguardoError):
            _psql(server, f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")
        raise
    return name


def _psql(server: SshPostgresSource, statement: str) -> None:
    """Run one statement outside a transaction (``CREATE DATABASE``) with the host's psql."""
    psql = server.tools().psql
    quoted = shlex.quote(statement)
    command = f"{server.prefix('postgres')} {shlex.quote(psql)} -XAtq -v ON_ERROR_STOP=1 -c {quoted}"
    server.commands.run(command, tool="psql", secret=server.secret)


def restore_mysql_over_ssh(
    chunks: Iterable[bytes],
    target: DatabaseAddress,
    stream: Mapping[str, str | int],
    commands: SshCommands,
    *,
    overwrite: bool,
) -> str:
    """Restore a MySQL/MariaDB dump stream with the host's ``mariadb`` (or ``mysql``); return the database.

    Raises:
        TargetError: the database exists and ``overwrite`` is false, or the client failed.
        SourceError: the host or server cannot be reached, or no client is there.
    """
    name = target.database or str(stream["database"])
    server = SshMysqlSource(commands, target.with_database(None))
    exists = name in server.query("SHOW DATABASES")
    if exists and not overwrite:
        raise _refused(name, server.display())
    if exists:
        server.query(f"DROP DATABASE {quote_mysql(name)}")
    server.query(f"CREATE DATABASE {quote_mysql(name)}")
    client = server.tool("mariadb", "mysql")
    command = f"{shlex.quote(client)} {server.defaults} --database={shlex.quote(name)}"
    try:
        commands.feed(command, chunks, tool=os.path.basename(client), secret=server.secret)
    except ResguardoError:
        with contextlib.suppress(ResguardoError):
            server.query(f"DROP DATABASE IF EXISTS {quote_mysql(name)}")
        raise
    return name
