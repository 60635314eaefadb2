"""Scratch databases for restore tests: restore a dump under a throwaway name, count its tables' rows,
drop it.

A restore test restores each database stream of a snapshot into a database of its own on a test server
(never the production one), asks it which tables it holds and how many rows each has, and drops it
again, whatever happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import psycopg
from psycopg import sql

from resguardo.core.errors import ResguardoError
from resguardo.sources import mysql, postgresql
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.restore import restore_mysql, restore_postgresql


class CountedChunks:
    """An iterable of chunks that counts the bytes it gave (to compare with the size recorded)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            yield chunk


def restore_and_count(
    chunks: Iterable[bytes], server: DatabaseAddress, scratch: str, stream: Mapping[str, str | int]
) -> dict[str, int]:
    """Restore a dump stream into the scratch database ``scratch`` on ``server``, count the rows of every
    table (``schema.table`` for PostgreSQL, ``database.table`` with the stream's database for MySQL), and
    drop the scratch database; return the counts.

    Raises:
        TargetError: the restore tool failed (a truncated or damaged dump does that).
        SourceError: the test server cannot be reached.
    """
    target = server.with_database(scratch)
    if server.kind == "postgresql":
        restore_postgresql(chunks, target, stream, overwrite=True)
        try:
            return _postgresql_counts(server, scratch)
        finally:
            drop_postgresql(server, scratch)
    restore_mysql(chunks, target, stream, overwrite=True)
    try:
        return _mysql_counts(server, scratch, str(stream.get("database", scratch)))
    finally:
        drop_mysql(server, scratch)


def _postgresql_counts(server: DatabaseAddress, scratch: str) -> dict[str, int]:
    listing = (
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    )
    counts = {}
    with (
        postgresql.PostgresSource(server.with_database(None)) as source,
        source.connect(scratch) as connection,
    ):
        for schema, table in connection.execute(listing).fetchall():
            name = sql.Identifier(str(schema), str(table))
            row = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0  # type: ignore[call-overload]
    return counts


def _mysql_counts(server: DatabaseAddress, scratch: str, original: str) -> dict[str, int]:
    counts = {}
    with mysql.MysqlConnection(server.with_database(None)) as connection:
        escaped = scratch.replace("\\", "\\\\").replace("'", "\\'")
        where = f"table_schema = '{escaped}' AND table_type = 'BASE TABLE'"
        tables = connection.query(f"SELECT table_name FROM information_schema.tables WHERE {where}")  # noqa: S608
        for table in tables:
            quoted = "`" + table.replace("`", "``") + "`"
            lines = connection.query(f"SELECT COUNT(*) FROM {quoted}", database=scratch)  # noqa: S608
            counts[f"{original}.{table}"] = int(lines[0]) if lines else 0
    return counts


def drop_postgresql(server: DatabaseAddress, scratch: str) -> None:
    """Drop the scratch database ``scratch`` if it exists (errors ignored: it is a throwaway)."""
    with (
        contextlib.suppress(ResguardoError, psycopg.Error),
        postgresql.PostgresSource(server.with_database(None)) as source,
        source.connect() as connection,
    ):
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))


def drop_mysql(server: DatabaseAddress, scratch: str) -> None:
    """Drop the scratch database ``scratch`` if it exists (errors ignored: it is a throwaway)."""
    with contextlib.suppress(ResguardoError), mysql.MysqlConnection(server.with_database(None)) as connection:
        connection.query("DROP DATABASE IF EXISTS `" + scratch.replace("`", "``") + "`")


def database_exists(server: DatabaseAddress, name: str) -> bool:
    """Return whether the database ``name`` exists on ``server`` (for tests of the clean-up)."""
    if server.kind == "postgresql":
        with postgresql.PostgresSource(server.with_database(None)) as source, source.connect() as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            return found is not None
    with mysql.MysqlConnection(server.with_database(None)) as connection:
        return name in connection.query("SHOW DATABASES")
