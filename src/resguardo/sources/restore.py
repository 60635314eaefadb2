"""Restore of a database stream of a snapshot into a PostgreSQL, MySQL/MariaDB or SQLite database.

An existing database is replaced only when the caller says so (``overwrite``); otherwise the restore
refuses before touching anything. A database this restore created is dropped again when the restore
fails, so no half-restored database is left behind under the new name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from resguardo.core.errors import ResguardoError, SnapshotNotFound, TargetError, UsageError
from resguardo.sources import mysql, postgresql, sqlite
from resguardo.sources._process import feed_tool
from resguardo.sources.addresses import DatabaseAddress, parse_address
from resguardo.sources.pgversions import POSTGRES_ROOT, installed_tools, pick_tools

if TYPE_CHECKING:
    from resguardo.sources.sshcommand import SshCommands

KIND_OF_TARGET = {
    "postgresql": postgresql.DATABASE_KIND,
    "mysql": mysql.DATABASE_KIND,
    "sqlite": sqlite.DATABASE_KIND,
}


@dataclass(frozen=True, slots=True)
class RestoreTarget:
    """Where a database stream goes: a server address (with the target database), or a SQLite file."""

    kind: str
    address: DatabaseAddress | None = None
    path: str = ""

    @classmethod
    def parse(cls, text: str) -> RestoreTarget:
        """Parse ``--to``: ``postgresql://...[/name]``, ``mysql://...[/name]``, ``sqlite:///path`` or a path.

        Raises:
            ConfigurationError: a URL is malformed.
        """
        if text.startswith("sqlite://"):
            return cls("sqlite", path=text.removeprefix("sqlite://"))
        if "://" in text:
            address = parse_address(text)
            return cls(address.kind, address=address)
        return cls("sqlite", path=text)

    def display(self) -> str:
        """Return the target for messages (never with a password)."""
        if self.address is None:
            return self.path
        name = f"/{self.address.database}" if self.address.database else ""
        return self.address.display() + name


def find_database_stream(
    streams: list[dict[str, str | int]], database: str, kind: str, snapshot: str
) -> dict[str, str | int]:
    """Return the description of the stream of ``database`` of ``kind`` in a snapshot's ``streams``.

    Raises:
        SnapshotNotFound: the snapshot holds no such database (the message lists those it holds).
    """
    for stream in streams:
        if stream.get("kind") == kind and stream.get("database") == database:
            return stream
    held = [f"{stream.get('database')} ({stream.get('kind')})" for stream in streams if "database" in stream]
    raise SnapshotNotFound(
        f"snapshot {snapshot} holds no {kind.split('.', maxsplit=1)[0]} database {database!r}",
        f"it holds: {', '.join(held)}"
        if held
        else "it holds no database; back one up with --postgresql, --mysql or --sqlite",
    )


def _overwrite_refused(name: str, where: str) -> TargetError:
    return TargetError(
        f"database {name!r} already exists on {where}",
        "add --overwrite to replace it, or name another database in --to",
    )


def restore_postgresql(
    chunks: Iterable[bytes],
    target: DatabaseAddress,
    stream: Mapping[str, str | int],
    *,
    overwrite: bool,
    tools_root: Path = POSTGRES_ROOT,
) -> str:
    """Restore a ``pg_dump`` custom-format stream with ``pg_restore`` into ``target.database``
    (or the original name); return the database restored into.

    Raises:
        TargetError: the database exists and ``overwrite`` is false, or pg_restore failed.
        SourceError: the server cannot be reached, or no suitable pg_restore is installed.
    """
    name = target.database or str(stream["database"])
    with postgresql.PostgresSource(target.with_database(None), tools_root=tools_root) as server:
        info = server.inspect()
        wanted = max(info.major, int(stream.get("tool_version", 0)))
        tools = pick_tools(wanted, installed_tools(tools_root), target.display())
        with server.connect() as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and not overwrite:
                raise _overwrite_refused(name, target.display())
            if exists:
                connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        escaped = name.replace("\\", "\\\\").replace("'", "\\'")
        arguments = [
            tools.tool("pg_restore"),
            "--no-password",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname=dbname='{escaped}'",
        ]
        try:
            feed_tool(arguments, server.environment(), "pg_restore", chunks)
        except ResguardoError:
            _drop_quietly(server, name)
            raise
    return name


def _drop_quietly(server: postgresql.PostgresSource, name: str) -> None:
    with contextlib.suppress(ResguardoError, psycopg.Error), server.connect() as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def restore_mysql(
    chunks: Iterable[bytes], target: DatabaseAddress, stream: Mapping[str, str | int], *, overwrite: bool
) -> str:
    """Restore a MySQL/MariaDB dump stream into ``target.database`` (or the original name) with the
    ``mariadb`` (or ``mysql``) client; return the database restored into.

    Raises:
        TargetError: the database exists and ``overwrite`` is false, or the client failed.
        SourceError: the server cannot be reached, or no client is installed.
    """
    name = target.database or str(stream["database"])
    with mysql.MysqlConnection(target.with_database(None)) as server:
        exists = name in server.query("SHOW DATABASES")
        if exists and not overwrite:
            raise _overwrite_refused(name, target.display())
        if exists:
            server.query(f"DROP DATABASE {_quote_identifier(name)}")
        server.query(f"CREATE DATABASE {_quote_identifier(name)}")
        client = mysql.find_tool("mariadb", "mysql")
        arguments = [client, server.defaults, f"--database={name}"]
        try:
            feed_tool(arguments, server.environment(), os.path.basename(client), chunks)
        except ResguardoError:
            with contextlib.suppress(ResguardoError):
                server.query(f"DROP DATABASE IF EXISTS {_quote_identifier(name)}")
            raise
    return name


def restore_sqlite(chunks: Iterable[bytes], path: str, *, overwrite: bool) -> str:
    """Write a SQLite database stream to ``path``, checked whole before it replaces anything there;
    return the path.

    The stream is written beside the target and renamed over it once SQLite finds it intact. An
    old ``-wal`` or ``-shm`` file of the target is removed, or SQLite would apply it to the new one.

    Raises:
        TargetError: the file exists and ``overwrite`` is false, the folder cannot be written, or the
            copy is not an intact SQLite database.
    """
    target = os.path.abspath(path)
    if os.path.exists(target) and not overwrite:
        raise TargetError(f"{target} already exists", "add --overwrite to replace it, or give another path")
    partial = target + ".resguardo-partial"
    try:
        with open(partial, "xb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        _check_sqlite(partial)
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(target + suffix)
        os.replace(partial, target)
    except OSError as error:
        raise TargetError(f"cannot write {target}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
    return target


def _check_sqlite(path: str) -> None:
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA integrity_check").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise TargetError(f"the restored copy is not a usable SQLite database: {error}") from None
    if result is None or result[0] != "ok":
        raise TargetError(f"the restored copy failed SQLite's integrity check: {result}")


def restore_database(
    chunks: Iterable[bytes],
    target: RestoreTarget,
    stream: Mapping[str, str | int],
    *,
    overwrite: bool,
    ssh: SshCommands | None = None,
) -> str:
    """Restore one database stream into ``target``; return the database (or file) restored into.

    Args:
        ssh: run the restore tool on the host these commands reach, the target's address then being
            as seen from that host (see :mod:`resguardo.sources.sshrestore`); None runs it here.

    Raises:
        UsageError: the stream is not of the target's kind, or a SQLite target is given with ``ssh``.
        TargetError, SourceError: see the restore of each kind.
    """
    if stream.get("kind") != KIND_OF_TARGET[target.kind]:
        raise UsageError(f"a {stream.get('kind')} stream cannot be restored into {target.kind}")
    if target.kind == "sqlite":
        if ssh is not None:
            raise UsageError("a SQLite file is restored here, not over SSH", "leave out --ssh")
        return restore_sqlite(chunks, target.path, overwrite=overwrite)
    assert target.address is not None
    if ssh is not None:
        from resguardo.sources.sshrestore import restore_mysql_over_ssh, restore_postgresql_over_ssh

        over_ssh = restore_postgresql_over_ssh if target.kind == "postgresql" else restore_mysql_over_ssh
        return over_ssh(chunks, target.address, stream, ssh, overwrite=overwrite)
    if target.kind == "postgresql":
        return restore_postgresql(chunks, target.address, stream, overwrite=overwrite)
    return restore_mysql(chunks, target.address, stream, overwrite=overwrite)


def database_exists(target: RestoreTarget, name: str, ssh: SshCommands | None = None) -> bool:
    """Return whether the database ``name`` (or, for SQLite, the file ``target.path``) exists at ``target``,
    so that a restore can be refused before it is queued.

    Args:
        ssh: ask the server from the host these commands reach (the target's address as seen from
            there); None asks it from here.

    Raises:
        SourceError: the server (or the SSH host) cannot be reached or refuses the login.
    """
    if target.address is None:
        return os.path.exists(target.path)
    server_address = target.address.with_database(None)
    if ssh is not None:
        from resguardo.sources.sshmysql import SshMysqlSource
        from resguardo.sources.sshpostgresql import SshPostgresSource

        if target.kind == "postgresql":
            return name in SshPostgresSource(ssh, server_address).inspect().databases
        return name in SshMysqlSource(ssh, server_address).inspect().databases
    if target.kind == "postgresql":
        with postgresql.PostgresSource(server_address) as server, server.connect() as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            return found is not None
    with mysql.MysqlConnection(server_address) as mysql_server:
        return name in mysql_server.query("SHOW DATABASES")
