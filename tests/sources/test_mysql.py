"""MySQL/MariaDB as a source, against a real MariaDB server: databases dumped, restored with the same
rows; bad passwords and names refused clearly; credentials only in a private option file."""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from resguardo.core.errors import SourceError, TargetError
from resguardo.engine.browse import open_file
from resguardo.engine.repository import Repository
from resguardo.engine.streams import backup_streams
from resguardo.sources.addresses import parse_address
from resguardo.sources.mysql import MysqlSource, option_file_text
from resguardo.sources.restore import find_database_stream, restore_mysql
from tests.fixtures.mariadb import PASSWORD, MariadbServer
from tests.fixtures.sshd import free_port
from tests.sources.conftest import fill_mysql_database, mysql_checksums


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_databases_are_dumped_restored_and_hold_the_same_rows(
    mariadb_server: MariadbServer, repository: Repository
) -> None:
    first, second = unique("shop"), unique("blog")
    fill_mysql_database(mariadb_server, first)
    fill_mysql_database(mariadb_server, second, rows=30)
    before = mysql_checksums(mariadb_server, first)
    with MysqlSource(parse_address(mariadb_server.url())) as source:
        snapshot = backup_streams(repository, source.streams()).snapshot
    names = {str(stream["name"]) for stream in snapshot.streams}
    assert {f"mysql/{first}.sql", f"mysql/{second}.sql", "mysql/users.sql"} <= names
    assert not {"mysql/information_schema.sql", "mysql/performance_schema.sql", "mysql/sys.sql"} & names
    users = b"".join(open_file(repository, snapshot, "/mysql/users.sql"))
    assert b"resguardo" in users
    mariadb_server.sql(f"DROP DATABASE `{first}`")
    stream = find_database_stream(snapshot.streams, first, "mysql.database", snapshot.short_id)
    chunks = open_file(repository, snapshot, f"/{stream['name']}")
    assert restore_mysql(chunks, parse_address(mariadb_server.url()), stream, overwrite=False) == first
    assert mysql_checksums(mariadb_server, first) == before
    assert "count_customers" in mariadb_server.sql(f"SHOW PROCEDURE STATUS WHERE Db = '{first}'")
    assert "customers_audit" in mariadb_server.sql("SHOW TRIGGERS", first)


def test_restore_refuses_an_existing_database_without_overwrite(
    mariadb_server: MariadbServer, repository: Repository
) -> None:
    name = unique("crm")
    fill_mysql_database(mariadb_server, name, rows=200)
    before = mysql_checksums(mariadb_server, name)
    with MysqlSource(parse_address(mariadb_server.url()), [name], users=False) as source:
        snapshot = backup_streams(repository, source.streams()).snapshot
    mariadb_server.sql("DELETE FROM customers WHERE id > 100", name)
    damaged = mysql_checksums(mariadb_server, name)
    stream = find_database_stream(snapshot.streams, name, "mysql.database", snapshot.short_id)
    address = parse_address(mariadb_server.url())
    with pytest.raises(TargetError, match="already exists"):
        restore_mysql(open_file(repository, snapshot, f"/{stream['name']}"), address, stream, overwrite=False)
    assert mysql_checksums(mariadb_server, name) == damaged
    restore_mysql(open_file(repository, snapshot, f"/{stream['name']}"), address, stream, overwrite=True)
    assert mysql_checksums(mariadb_server, name) == before


def test_wrong_password_is_reported_without_showing_it(mariadb_server: MariadbServer) -> None:
    with (
        MysqlSource(parse_address(mariadb_server.url(password="wrong-one"))) as source,
        pytest.raises(SourceError, match="Access denied") as failure,
    ):
        source.streams()
    assert "wrong-one" not in failure.value.message


def test_unreachable_server_is_reported() -> None:
    port = free_port()
    with (
        MysqlSource(parse_address(f"mysql://backup:pw@127.0.0.1:{port}/")) as source,
        pytest.raises(SourceError, match=f"mysql://backup@127.0.0.1:{port}: .*Can't connect"),
    ):
        source.streams()


def test_a_database_that_does_not_exist_is_named(mariadb_server: MariadbServer) -> None:
    with (
        MysqlSource(parse_address(mariadb_server.url()), ["no_such_db"]) as source,
        pytest.raises(SourceError, match="database 'no_such_db' does not exist"),
    ):
        source.streams()


def test_credentials_live_in_a_private_option_file_only(mariadb_server: MariadbServer) -> None:
    with MysqlSource(parse_address(mariadb_server.url())) as source:
        opener = source.streams()[0].open
        arguments = opener.arguments  # type: ignore[attr-defined]
        assert not any(PASSWORD in argument for argument in arguments)
        assert arguments[1] == f"--defaults-extra-file={source.options_file}"
        assert stat.S_IMODE(os.stat(source.options_file).st_mode) == 0o600
        options_file = source.options_file
    assert not os.path.exists(options_file)


def test_option_file_quotes_awkward_passwords() -> None:
    text = option_file_text(parse_address("mysql://u:a%22b%5Cc%0Ad@h:1/"))
    assert 'password="a\\"b\\\\c\\nd"' in text
