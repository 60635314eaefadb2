"""Fixtures for the database source tests: a PostgreSQL cluster that asks for a password over TCP, a
MariaDB server (both real, on 127.0.0.1), a repository, and per-table checksums to compare databases.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from resguardo.backends import LocalStorage
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import Repository
from tests.fixtures.mariadb import MariadbServer, mariadb_server
from tests.fixtures.postgres import SERVICE_USER, SUPERUSER, PostgresCluster, _make_root, postgres_bin_dir

__all__ = ["mariadb_server"]

PG_PASSWORD = "pg:secret\\pass"
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster whose superuser ``resguardo`` logs in over TCP with :data:`PG_PASSWORD`."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL is not installed: run scripts/test-services.sh")
    if os.geteuid() == 0:
        pwd.getpwnam(SERVICE_USER)
    cluster = PostgresCluster(root=_make_root(), bin_dir=bin_dir, password=PG_PASSWORD)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def pg_url(cluster: PostgresCluster, database: str = "", password: str | None = PG_PASSWORD) -> str:
    """Return a resguardo database URL of the cluster (password percent-encoded when given)."""
    from urllib.parse import quote

    secret = f":{quote(password, safe='')}" if password is not None else ""
    return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{cluster.port}/{database}"


def pg_connect(cluster: PostgresCluster, database: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=cluster.port,
        user=SUPERUSER,
        password=PG_PASSWORD,
        dbname=database,
        autocommit=True,
    )


def fill_pg_database(cluster: PostgresCluster, name: str, rows: int = 2000) -> None:
    """Create ``name`` with two tables, a view, a sequence's state and some binary data."""
    with pg_connect(cluster, "postgres") as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    with pg_connect(cluster, name) as connection:
        connection.execute(
            "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, photo bytea, joined date)"
        )
        connection.execute(
            "CREATE TABLE orders "
            "(id bigserial PRIMARY KEY, customer int REFERENCES customers, total numeric(12, 2))"
        )
        connection.execute(
            "INSERT INTO customers (name, photo, joined) SELECT 'customer ' || n, "
            "decode(md5(n::text), 'hex'), date '2020-01-01' + n FROM generate_series(1, %s) AS n",
            (rows,),
        )
        connection.execute(
            "INSERT INTO orders (customer, total) "
            "SELECT 1 + n %% %s, n * 1.25 FROM generate_series(1, %s) AS n",
            (rows, rows * 3),
        )
        connection.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100")


def pg_checksums(cluster: PostgresCluster, database: str) -> dict[str, str]:
    """Return md5 of every table's ordered rows, by table name."""
    with pg_connect(cluster, database) as connection:
        tables = [
            str(row[0])
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {
            table: str(
                connection.execute(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"  # type: ignore[arg-type]
                ).fetchone()[0]  # type: ignore[index]
            )
            for table in tables
        }


def fill_mysql_database(server: MariadbServer, name: str, rows: int = 2000) -> None:
    """Create ``name`` with two InnoDB tables, a trigger, a procedure and binary data."""
    server.sql(
        f"CREATE DATABASE `{name}`; USE `{name}`; "
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100), photo BLOB) ENGINE=InnoDB; "
        "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB; "
        "CREATE TRIGGER customers_audit AFTER INSERT ON customers FOR EACH ROW "
        "INSERT INTO audit (note) VALUES (CONCAT('added ', NEW.id)); "
        "CREATE PROCEDURE count_customers() SELECT COUNT(*) FROM customers; "
        f"INSERT INTO customers SELECT seq, CONCAT('customer ', seq), UNHEX(MD5(seq)) FROM seq_1_to_{rows};"
    )


def mysql_checksums(server: MariadbServer, database: str) -> dict[str, str]:
    """Return md5 of every table's ordered rows, by table name."""
    tables = server.sql(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{database}' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).split()
    checksums = {}
    for table in tables:
        columns = server.sql(
            f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{database}' "
            f"AND table_name = '{table}' ORDER BY ordinal_position"
        ).split()
        values = ", ".join(f"HEX(`{column}`)" for column in columns)
        checksums[table] = server.sql(
            "SET SESSION group_concat_max_len = 1073741824; "
            f"SELECT MD5(COALESCE(GROUP_CONCAT(CONCAT_WS(',', {values}) ORDER BY `{columns[0]}` "
            f"SEPARATOR '|'), '')) FROM `{table}`",
            database,
        ).strip()
    return checksums


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    """A new repository in ``tmp_path`` with small chunks (so that dumps make many)."""
    storage = LocalStorage(str(tmp_path / "repository"), durable=False)
    return Repository.create(
        storage, b"passphrase", chunker=SMALL_CHUNKS, kdf=FAST_KDF, pack_size=1024 * 1024
    )
