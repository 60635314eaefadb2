"""Databases dumped on a client reached over SSH (a real sshd on 127.0.0.1, whose sessions reach the real
PostgreSQL and MariaDB servers of the tests on loopback): dumps stream back, restore with the same rows;
missing tools, wrong passwords and names, and a dump cut short fail clearly and save nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.backends._sftp_connect import Credentials
from resguardo.core.errors import SourceError, TargetError
from resguardo.engine.browse import open_file
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import list_snapshots
from resguardo.engine.streams import StreamsOptions, StreamSource, backup_streams
from resguardo.sources.addresses import parse_address
from resguardo.sources.restore import RestoreTarget, find_database_stream, restore_database
from resguardo.sources.sshcommand import SshClientConnection
from resguardo.sources.sshmysql import SshMysqlSource
from resguardo.sources.sshpostgresql import RemoteTools, SshPostgresSource
from resguardo.sources.sshtree import parse_target
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.sshd import SshServer
from tests.sources.conftest import (
    fill_mysql_database,
    fill_pg_database,
    mysql_checksums,
    pg_checksums,
    pg_connect,
    pg_url,
)

KILL_DUMP_OF = (
    "for attempt in $(seq 300); do for p in $(pgrep -x pg_dump); do "
    'grep -qz "^PGDATABASE=NAME$" /proc/$p/environ && kill -KILL $p && exit 0; done; sleep 0.1; done; exit 1'
)
"""Kills the pg_dump of database NAME on the client, once it runs."""


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def connection(sshd_server: SshServer) -> Iterator[SshClientConnection]:
    location = parse_target(f"{sshd_server.user}@127.0.0.1:{sshd_server.port}", sshd_server.user)
    credentials = Credentials(str(sshd_server.client_key), str(sshd_server.known_hosts))
    with SshClientConnection(location, credentials) as opened:
        yield opened


def test_postgresql_dumped_over_ssh_comes_back_with_the_same_rows(
    connection: SshClientConnection, pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("remote")
    fill_pg_database(pg_server, name, rows=3000)
    before = pg_checksums(pg_server, name)
    source = SshPostgresSource(connection.commands, parse_address(pg_url(pg_server)), [name])
    snapshot = backup_streams(repository, source.streams(), StreamsOptions(parallel=2)).snapshot
    stream = find_database_stream(snapshot.streams, name, "postgresql.database", snapshot.short_id)
    assert stream["via"] == "ssh" and stream["format"] == "pg_dump custom"
    assert json.loads(str(stream["tables"]))["public.customers"]["rows"] == 3000
    assert stream["tables_exact"] == 1
    pg_server.drop_database(name)
    chunks = open_file(repository, snapshot, "/" + str(stream["name"]))
    target = RestoreTarget.parse(pg_url(pg_server))
    assert restore_database(chunks, target, stream, overwrite=False, ssh=connection.commands) == name
    assert pg_checksums(pg_server, name) == before


def test_bytes_received_over_ssh_are_about_the_size_of_the_dump(
    connection: SshClientConnection, pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("sized")
    fill_pg_database(pg_server, name, rows=20000)
    source = SshPostgresSource(connection.commands, parse_address(pg_url(pg_server)), [name])
    streams = source.streams()
    received_before = connection.bytes_received()
    snapshot = backup_streams(repository, streams).snapshot
    received = connection.bytes_received() - received_before
    dumped = sum(int(stream["size"]) for stream in snapshot.streams)
    assert dumped > 1_000_000
    assert dumped <= received < dumped * 1.2


def test_mariadb_dumped_over_ssh_comes_back_with_the_same_rows(
    connection: SshClientConnection, mariadb_server: MariadbServer, repository: Repository
) -> None:
    name = unique("remote")
    fill_mysql_database(mariadb_server, name, rows=500)
    before = mysql_checksums(mariadb_server, name)
    source = SshMysqlSource(connection.commands, parse_address(mariadb_server.url()), [name])
    snapshot = backup_streams(repository, source.streams()).snapshot
    stream = find_database_stream(snapshot.streams, name, "mysql.database", snapshot.short_id)
    assert json.loads(str(stream["tables"]))[f"{name}.customers"]["rows"] == 500
    mariadb_server.sql(f"DROP DATABASE `{name}`")
    chunks = open_file(repository, snapshot, "/" + str(stream["name"]))
    target = RestoreTarget.parse(mariadb_server.url(name))
    restore_database(chunks, target, stream, overwrite=False, ssh=connection.commands)
    assert mysql_checksums(mariadb_server, name) == before


def test_restore_over_ssh_refuses_an_existing_database_without_overwrite(
    connection: SshClientConnection, pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("kept")
    fill_pg_database(pg_server, name, rows=10)
    source = SshPostgresSource(connection.commands, parse_address(pg_url(pg_server)), [name])
    snapshot = backup_streams(repository, source.streams()).snapshot
    stream = find_database_stream(snapshot.streams, name, "postgresql.database", snapshot.short_id)
    chunks = open_file(repository, snapshot, "/" + str(stream["name"]))
    with pytest.raises(TargetError, match="already exists"):
        restore_database(
            chunks, RestoreTarget.parse(pg_url(pg_server)), stream, overwrite=False, ssh=connection.commands
        )


def test_a_wrong_database_password_is_named_with_the_client(
    connection: SshClientConnection, pg_server: PostgresCluster
) -> None:
    source = SshPostgresSource(connection.commands, parse_address(pg_url(pg_server, password="wrong")))
    with pytest.raises(SourceError, match="password authentication failed") as caught:
        source.streams()
    assert "127.0.0.1" in caught.value.message and "wrong" not in caught.value.message


def test_a_database_that_does_not_exist_is_named_with_those_there(
    connection: SshClientConnection, mariadb_server: MariadbServer
) -> None:
    source = SshMysqlSource(connection.commands, parse_address(mariadb_server.url()), ["no_such_db"])
    with pytest.raises(SourceError, match="'no_such_db' does not exist") as caught:
        source.streams()
    assert "databases there" in (caught.value.hint or "")


def test_a_missing_tool_on_the_client_says_what_to_install() -> None:
    tools = RemoteTools("")
    with pytest.raises(SourceError, match="no pg_dump found") as caught:
        tools.pick(15, "postgresql://db", "backup@db1")
    assert "versions found there: none" in caught.value.message
    assert "postgresql-client-15" in (caught.value.hint or "")


def test_an_older_pg_dump_on_the_client_is_refused_naming_the_versions() -> None:
    tools = RemoteTools("dir /usr/lib/postgresql/13/bin/pg_dump\ndir /usr/lib/postgresql/12/bin/pg_dump\n")
    with pytest.raises(SourceError, match=r"version 13 ") as caught:
        tools.pick(15, "postgresql://db", "backup@db1")
    assert "cannot dump a newer server" in caught.value.message
    assert tools.psql == "/usr/lib/postgresql/13/bin/psql"


def test_a_tool_missing_on_the_client_is_reported_as_not_installed(connection: SshClientConnection) -> None:
    with pytest.raises(SourceError, match="no-such-dump-tool is not installed on"):
        connection.commands.run("no-such-dump-tool --version", tool="no-such-dump-tool")


def test_the_password_never_reaches_a_command_line_and_its_file_is_removed(
    connection: SshClientConnection, tmp_path: Path
) -> None:
    marker = tmp_path / "where"
    output = connection.commands.run(
        f'echo "$d" > {marker}; stat -c %a "$d/secret"; cat "$d/secret"; ps -eo args',
        tool="sh",
        secret="top:secret\n",
    )
    lines = output.splitlines()
    assert lines[0] == "600" and lines[1] == "top:secret"
    assert not any("top:secret" in line for line in lines[2:])
    assert not Path(marker.read_text().strip()).exists()


def test_a_dump_killed_halfway_fails_the_backup_and_saves_no_snapshot(
    connection: SshClientConnection, pg_server: PostgresCluster, repository: Repository
) -> None:
    name = unique("killed")
    fill_pg_database(pg_server, name, rows=20000)
    source = SshPostgresSource(connection.commands, parse_address(pg_url(pg_server)), [name])
    [dump] = [stream for stream in source.streams() if stream.description.get("database") == name]
    with pg_connect(pg_server, name) as blocker, blocker.transaction():
        blocker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")  # pg_dump waits, half started
        opened = dump.open()
        connection.commands.run(KILL_DUMP_OF.replace("NAME", name), tool="kill")
    with pytest.raises(SourceError, match="pg_dump was killed by SIGKILL"):
        backup_streams(repository, [StreamSource(dump.name, lambda: opened, dump.description)])
    assert list_snapshots(repository) == []
