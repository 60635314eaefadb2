"""``backup --postgresql/--mysql URL --ssh USER@HOST``: the dumps run on a client server over a real sshd on
127.0.0.1 (whose sessions reach the real database servers on loopback); ``restore --database --ssh`` feeds the
restore tool there."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.cli.conftest import Repo
from tests.cli.test_backup_ssh import ssh_options
from tests.fixtures.mariadb import PASSWORD, MariadbServer
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.sshd import SshServer, generate_key, public_key
from tests.sources.conftest import (
    PG_PASSWORD,
    fill_mysql_database,
    fill_pg_database,
    mariadb_server,
    mysql_checksums,
    pg_checksums,
    pg_connect,
    pg_server,
    pg_url,
)

__all__ = ["mariadb_server", "pg_server"]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_postgresql_dumped_over_ssh_is_restored_over_ssh_with_the_same_rows(
    repo: Repo, sshd_server: SshServer, pg_server: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("sales")
    fill_pg_database(pg_server, name)
    before = pg_checksums(pg_server, name)
    monkeypatch.setenv("RESGUARDO_DATABASE_PASSWORD", PG_PASSWORD)
    url = pg_url(pg_server, password=None)
    outcome = repo("--json", "backup", "--postgresql", url, "--database", name, *ssh_options(sshd_server))
    assert outcome.exit_code == 0, outcome.stderr
    streams = {stream["name"]: stream for stream in outcome.json_lines()[-1]["streams"]}
    assert streams[f"postgresql/{name}.pgdump"]["via"] == "ssh"
    assert '"public.customers":{"bytes":' in streams[f"postgresql/{name}.pgdump"]["tables"]

    with pg_connect(pg_server, name) as connection:
        connection.execute("DELETE FROM orders WHERE id % 2 = 0")
    restore = ["restore", "latest", "--database", name, "--to", url, *ssh_options(sshd_server)]
    refused = repo(*restore)
    assert refused.exit_code == 1 and "already exists" in refused.stderr and "--overwrite" in refused.stderr
    restored = repo(*restore, "--overwrite")
    assert restored.exit_code == 0, restored.stderr
    assert pg_checksums(pg_server, name) == before
    assert PG_PASSWORD not in outcome.stdout + outcome.stderr + restored.stdout + restored.stderr


def test_mariadb_dumped_over_ssh_restores_into_a_new_database(
    repo: Repo, sshd_server: SshServer, mariadb_server: MariadbServer, tmp_path: Path
) -> None:
    name, copy = unique("shop"), unique("shop_copy")
    fill_mysql_database(mariadb_server, name, rows=200)
    password_file = tmp_path / "db-password"
    password_file.write_text(PASSWORD + "\n")
    password = ["--database-password-file", str(password_file)]
    url = mariadb_server.url(password=None)
    backup = repo("backup", "--mysql", url, "--database", name, *password, *ssh_options(sshd_server))
    assert backup.exit_code == 0, backup.stderr
    assert f"mysql/{name}.sql" in backup.stdout
    target = mariadb_server.url(copy, password=None)
    restore = repo(
        "restore", "latest", "--database", name, "--to", target, *password, *ssh_options(sshd_server)
    )
    assert restore.exit_code == 0, restore.stderr
    assert mysql_checksums(mariadb_server, copy) == mysql_checksums(mariadb_server, name)


def test_a_wrong_host_key_refuses_the_database_backup_before_anything_is_sent(
    repo: Repo, sshd_server: SshServer, pg_server: PostgresCluster, tmp_path: Path
) -> None:
    impostor = generate_key(tmp_path / "impostor")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {public_key(impostor)}\n")
    outcome = repo("backup", "--postgresql", pg_url(pg_server), *ssh_options(sshd_server, known_hosts))
    assert outcome.exit_code != 0
    assert "CHANGED" in outcome.stderr and "Traceback" not in outcome.stderr
    assert PG_PASSWORD not in outcome.stderr


def test_sqlite_files_are_not_taken_over_ssh(repo: Repo, sshd_server: SshServer, tmp_path: Path) -> None:
    outcome = repo("backup", "--sqlite", str(tmp_path / "app.db"), *ssh_options(sshd_server))
    assert outcome.exit_code == 2 and "--sqlite" in outcome.stderr
