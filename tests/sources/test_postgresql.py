"""PostgreSQL as a source, against a real cluster: every database dumped into one snapshot, restored
with the same rows; bad addresses, passwords and names refused clearly; a killed dump saves nothing."""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from resguardo.core.errors import SnapshotNotFound, SourceError, TargetError
from resguardo.engine.browse import open_file
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import list_snapshots
from resguardo.engine.streams import StreamsOptions, StreamSource, backup_streams
from resguardo.sources._process import CommandStream
from resguardo.sources.addresses import parse_address
from resguardo.sources.postgresql import PostgresSource
from resguardo.sources.restore import find_database_stream, restore_postgresql
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.sshd import free_port
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, pg_checksums, pg_connect, pg_url


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def backup_databases(
    repository: Repository, cluster: PostgresCluster, databases: list[str]
) -> list[StreamSource]:
    with PostgresSource(parse_address(pg_url(cluster)), databases) as source:
        streams = source.streams()
        backup_streams(repository, streams, StreamsOptions(parallel=2))
    return streams


def test_every_database_is_dumped_into_one_snapshot_with_the_globals(
    pg_server: PostgresCluster, repository: Repository
) -> None:
    first, second = unique("sales"), unique("hr")
    fill_pg_database(pg_server, first)
    fill_pg_database(pg_server, second, rows=50)
    with PostgresSource(parse_address(pg_url(pg_server))) as source:
        snapshot = backup_streams(repository, source.streams()).snapshot
    names = {str(stream["name"]) for stream in snapshot.streams}
    assert {f"postgresql/{first}.pgdump", f"postgresql/{second}.pgdump", "postgresql/globals.sql"} <= names
    assert "postgresql/postgres.pgdump" in names
    globals_sql = b"".join(open_file(repository, snapshot, "/postgresql/globals.sql"))
    assert b"CREATE ROLE resguardo" in globals_sql
    stream = find_database_stream(snapshot.streams, first, "postgresql.database", snapshot.short_id)
    assert stream["size"] > 0 and stream["format"] == "pg_dump custom"
    assert int(stream["tool_version"]) >= 15


def test_dropped_database_comes_back_with_the_same_rows(
    pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("shop")
    fill_pg_database(pg_server, name)
    before = pg_checksums(pg_server, name)
    backup_databases(repository, pg_server, [name])
    snapshot = list_snapshots(repository)[-1]
    pg_server.drop_database(name)
    stream = find_database_stream(snapshot.streams, name, "postgresql.database", snapshot.short_id)
    chunks = open_file(repository, snapshot, "/" + str(stream["name"]))
    restored = restore_postgresql(chunks, parse_address(pg_url(pg_server)), stream, overwrite=False)
    assert restored == name
    assert pg_checksums(pg_server, name) == before
    assert before["customers"] != before["orders"]


def test_restore_refuses_an_existing_database_without_overwrite_and_replaces_it_with(
    pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("crm")
    fill_pg_database(pg_server, name)
    before = pg_checksums(pg_server, name)
    backup_databases(repository, pg_server, [name])
    snapshot = list_snapshots(repository)[-1]
    stream = find_database_stream(snapshot.streams, name, "postgresql.database", snapshot.short_id)
    with pg_connect(pg_server, name) as connection:
        connection.execute("DELETE FROM orders WHERE id % 2 = 0")
    damaged = pg_checksums(pg_server, name)
    address = parse_address(pg_url(pg_server))
    with pytest.raises(TargetError, match="already exists") as refused:
        restore_postgresql(
            open_file(repository, snapshot, "/" + str(stream["name"])), address, stream, overwrite=False
        )
    assert "--overwrite" in refused.value.hint
    assert pg_checksums(pg_server, name) == damaged
    restore_postgresql(
        open_file(repository, snapshot, "/" + str(stream["name"])), address, stream, overwrite=True
    )
    assert pg_checksums(pg_server, name) == before


def test_restore_into_a_new_name_leaves_the_original_alone(
    pg_server: PostgresCluster, repository: Repository
) -> None:
    name, copy = unique("books"), unique("books_copy")
    fill_pg_database(pg_server, name, rows=100)
    backup_databases(repository, pg_server, [name])
    snapshot = list_snapshots(repository)[-1]
    stream = find_database_stream(snapshot.streams, name, "postgresql.database", snapshot.short_id)
    address = parse_address(pg_url(pg_server, copy))
    assert (
        restore_postgresql(
            open_file(repository, snapshot, f"/{stream['name']}"), address, stream, overwrite=False
        )
        == copy
    )
    assert pg_checksums(pg_server, copy) == pg_checksums(pg_server, name)


def test_wrong_password_is_reported_without_showing_it(pg_server: PostgresCluster) -> None:
    with (
        PostgresSource(parse_address(pg_url(pg_server, password="not-the-password"))) as source,
        pytest.raises(SourceError) as failure,
    ):
        source.streams()
    assert "password authentication failed" in failure.value.message
    assert "not-the-password" not in failure.value.message + failure.value.hint


def test_unreachable_server_is_reported_with_its_address() -> None:
    port = free_port()
    with (
        PostgresSource(parse_address(f"postgresql://backup:pw@127.0.0.1:{port}/")) as source,
        pytest.raises(
            SourceError, match=f"cannot connect to postgresql://backup@127.0.0.1:{port}"
        ) as failure,
    ):
        source.streams()
    assert "refused" in failure.value.message.lower()


def test_a_database_that_does_not_exist_is_named_with_those_that_do(pg_server: PostgresCluster) -> None:
    with (
        PostgresSource(parse_address(pg_url(pg_server)), ["no_such_db"]) as source,
        pytest.raises(SourceError, match="database 'no_such_db' does not exist") as failure,
    ):
        source.streams()
    assert "postgres" in failure.value.hint


def test_password_reaches_pg_dump_through_a_private_file_only(pg_server: PostgresCluster) -> None:
    with PostgresSource(parse_address(pg_url(pg_server))) as source:
        streams = source.streams()
        opener = streams[0].open
        arguments = opener.arguments  # type: ignore[attr-defined]
        environment = opener.environment  # type: ignore[attr-defined]
        assert not any(PG_PASSWORD in argument for argument in arguments)
        assert "PGPASSWORD" not in environment
        password_file = environment["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(password_file)).st_mode) == 0o700
    assert not os.path.exists(password_file)


def test_dump_killed_halfway_saves_no_snapshot(pg_server: PostgresCluster, repository: Repository) -> None:
    big, small = unique("big"), unique("small")
    fill_pg_database(pg_server, big, rows=60000)
    fill_pg_database(pg_server, small, rows=10)

    class KilledAfterFirstRead:
        def __init__(self, stream: CommandStream) -> None:
            self.stream = stream

        @property
        def reader(self) -> KilledAfterFirstRead:
            return self

        def read(self, size: int = -1) -> bytes:
            data = self.stream.reader.read(min(size, 65536) if size > 0 else 65536)
            self.stream.process.kill()
            return data

        def readinto(self, buffer: bytearray | memoryview) -> int:
            data = self.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)

        def finish(self) -> None:
            self.stream.finish()

        def abort(self) -> None:
            self.stream.abort()

    with PostgresSource(parse_address(pg_url(pg_server)), [big, small]) as source:
        streams = source.streams()
        target = streams[0]
        assert target.name == f"postgresql/{big}.pgdump"
        killed = StreamSource(target.name, lambda: KilledAfterFirstRead(target.open()), target.description)  # type: ignore[arg-type,return-value]
        with pytest.raises(
            SourceError, match=rf"stream postgresql/{big}\.pgdump: pg_dump was killed by SIGKILL"
        ):
            backup_streams(repository, [killed, *streams[1:]])
    assert list_snapshots(repository) == []


def test_restore_of_a_database_the_snapshot_lacks_names_those_it_has(
    pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("kept")
    fill_pg_database(pg_server, name, rows=5)
    backup_databases(repository, pg_server, [name])
    snapshot = list_snapshots(repository)[-1]
    with pytest.raises(SnapshotNotFound, match="holds no postgresql database 'other'") as failure:
        find_database_stream(snapshot.streams, "other", "postgresql.database", snapshot.short_id)
    assert name in failure.value.hint
