"""The connectivity and feasibility test against real servers: sshd, PostgreSQL, MariaDB, this host."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from resguardo.catalog import ClientSecretName, SecretKey, Transport, create_catalog_engine, queries, upgrade
from resguardo.services.connectivity import ConnectivityRequest, run_client_test
from tests.fixtures.mariadb import PASSWORD as MARIADB_PASSWORD
from tests.fixtures.mariadb import USER as MARIADB_USER
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.sshd import SshServer, free_port, generate_key, public_key
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, mariadb_server, pg_server

__all__ = ["mariadb_server", "pg_server"]

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
UNREADABLE = "/proc/1/mem"  # exists, and no account (root included) may read it


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A session on a fresh SQLite catalog."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    upgrade(url)
    engine = create_catalog_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


@pytest.fixture
def key() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of three files, 3000 bytes in all."""
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    for index, name in enumerate(("a", "b", "sub/c")):
        (folder / name).write_bytes(bytes([index]) * 1000)
    return folder


def ssh_client(
    session: Session,
    key: SecretKey,
    server: SshServer,
    *,
    host_key: str | None = None,
    port: int | None = None,
) -> int:
    client = queries.create_client(
        session,
        name="web1",
        address="127.0.0.1",
        port=port or server.port,
        ssh_user=server.user,
        ssh_host_key=public_key(server.host_key) if host_key is None else host_key,
        now=NOW,
    )
    queries.set_client_secret(
        session, key, client.id, ClientSecretName.SSH_PRIVATE_KEY, server.client_key.read_text()
    )
    session.commit()
    return client.id


def run(session: Session, key: SecretKey, client_id: int, **request: Any) -> dict[str, Any]:
    document = run_client_test(
        session,
        key,
        client_id,
        ConnectivityRequest(**request),
        now=NOW,
        tested_by="ana",
    )
    session.commit()
    return document


def statuses(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(item["check"], item["target"]): item["status"] for item in document["items"]}


def test_a_good_ssh_client_passes_every_check_and_its_size_is_estimated(
    session: Session, key: SecretKey, sshd_server: SshServer, tree: Path, tmp_path: Path
) -> None:
    client_id = ssh_client(session, key, sshd_server)
    repository = queries.create_repository(session, key, name="main", url=str(tmp_path / "repo"), now=NOW)
    session.commit()
    document = run(session, key, client_id, paths=[str(tree)], repository_id=repository.id)
    found = statuses(document)
    target = f"{sshd_server.user}@127.0.0.1:{sshd_server.port}"
    assert found[("name resolves", "127.0.0.1")] == "ok"
    assert found[("port open", f"127.0.0.1:{sshd_server.port}")] == "ok"
    assert found[("host key matches", target)] == "ok"
    assert found[("SSH authentication", target)] == "ok"
    assert found[("path exists", str(tree))] == found[("path readable", str(tree))] == "ok"
    assert found[("free space", f"main ({tmp_path / 'repo'})")] == "ok"
    assert document["summary"]["result"] == "ok"
    assert document["summary"]["estimated_bytes"] == 3000
    stored = queries.last_client_test(session, client_id)
    assert stored is not None and stored.tested_by == "ana" and stored.report["summary"]["failed"] == 0
    assert sshd_server.client_key.read_text() not in json.dumps(document)


def test_a_wrong_host_key_fails_and_nothing_is_read(
    session: Session, key: SecretKey, sshd_server: SshServer, tree: Path, tmp_path: Path
) -> None:
    other = generate_key(tmp_path / "other_host_key")
    client_id = ssh_client(session, key, sshd_server, host_key=public_key(other))
    found = statuses(run(session, key, client_id, paths=[str(tree)]))
    target = f"{sshd_server.user}@127.0.0.1:{sshd_server.port}"
    assert found[("host key matches", target)] == "failed"
    assert ("SSH authentication", target) not in found
    assert found[("path exists", str(tree))] == "skipped"


def test_a_missing_host_key_fails_with_the_fingerprint_offered(
    session: Session, key: SecretKey, sshd_server: SshServer
) -> None:
    client_id = ssh_client(session, key, sshd_server, host_key="")
    document = run(session, key, client_id)
    [item] = [item for item in document["items"] if item["check"] == "host key known"]
    assert item["status"] == "failed" and "SHA256:" in item["detail"] and "--ssh-host-key" in item["fix"]


def test_an_unknown_host_name_fails_at_the_first_step(session: Session, key: SecretKey, tree: Path) -> None:
    client = queries.create_client(session, name="ghost", address="no-such-host.invalid", now=NOW)
    session.commit()
    document = run(session, key, client.id, paths=[str(tree)])
    items = document["items"]
    assert items[0]["check"] == "name resolves" and items[0]["status"] == "failed"
    assert items[0]["fix"]
    assert statuses(document)[("path exists", str(tree))] == "skipped"


def test_a_closed_port_fails_with_what_to_fix(
    session: Session, key: SecretKey, sshd_server: SshServer
) -> None:
    port = free_port()
    client_id = ssh_client(session, key, sshd_server, port=port)
    document = run(session, key, client_id)
    [item] = [item for item in document["items"] if item["check"] == "port open"]
    assert item["status"] == "failed" and str(port) in item["fix"]


def test_a_missing_and_an_unreadable_path_over_ssh_are_reported_as_such(
    session: Session, key: SecretKey, sshd_server: SshServer, tree: Path
) -> None:
    client_id = ssh_client(session, key, sshd_server)
    missing = str(tree / "not-there")
    document = run(session, key, client_id, paths=[missing, UNREADABLE, str(tree)])
    found = statuses(document)
    assert found[("path exists", missing)] == "failed"
    [missing_item] = [item for item in document["items"] if item["target"] == missing]
    assert missing_item["data"] == {"missing": True} and "does not exist" in missing_item["detail"]
    assert found[("path exists", UNREADABLE)] == "ok"
    assert found[("path readable", UNREADABLE)] == "failed"
    assert found[("estimated size", str(tree))] == "ok"
    assert document["summary"]["result"] == "failed"


def test_a_local_client_checks_its_paths_on_this_host(session: Session, key: SecretKey, tree: Path) -> None:
    client = queries.create_client(session, name="here", transport=Transport.LOCAL, now=NOW)
    session.commit()
    document = run(session, key, client.id, paths=[str(tree), str(tree / "gone"), UNREADABLE])
    found = statuses(document)
    assert found[("estimated size", str(tree))] == "ok"
    assert found[("path exists", str(tree / "gone"))] == "failed"
    assert found[("path readable", UNREADABLE)] == "failed"
    assert ("name resolves", "") not in found and document["summary"]["estimated_bytes"] == 3000


def test_a_job_gives_its_paths_and_repository(
    session: Session, key: SecretKey, tree: Path, tmp_path: Path
) -> None:
    client = queries.create_client(session, name="here", transport=Transport.LOCAL, now=NOW)
    repository = queries.create_repository(session, key, name="main", url=str(tmp_path / "repo"), now=NOW)
    category = queries.find_category(session, "documents")
    job = queries.create_job(
        session,
        name="docs",
        client_id=client.id,
        repository_id=repository.id,
        category_id=category.id,
        source={"kind": "paths", "paths": [str(tree)]},
        now=NOW,
    )
    session.commit()
    found = statuses(run(session, key, client.id, job_id=job.id))
    assert found[("estimated size", str(tree))] == "ok"
    assert found[("free space", f"main ({tmp_path / 'repo'})")] == "ok"


def database_client(session: Session, key: SecretKey, url: str, password: str) -> int:
    client = queries.create_client(session, name="db1", transport=Transport.LOCAL, database_url=url, now=NOW)
    queries.set_client_secret(session, key, client.id, ClientSecretName.DATABASE_PASSWORD, password)
    session.commit()
    return client.id


def test_postgresql_reachable_with_its_tools_and_a_missing_database_reported(
    session: Session, key: SecretKey, pg_server: PostgresCluster
) -> None:
    name = f"connectivity_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=10)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = database_client(session, key, url, PG_PASSWORD)
    document = run(session, key, client_id, databases=[name, "no_such_db"])
    found = statuses(document)
    assert found[("database server reachable", url.rstrip("/"))] == "ok"
    assert found[("dump tools", "pg_dump")] == "ok"
    assert found[("database exists", name)] == "ok"
    assert found[("database exists", "no_such_db")] == "failed"
    assert PG_PASSWORD not in json.dumps(document)


def test_postgresql_with_a_wrong_password_fails_with_what_to_fix(
    session: Session, key: SecretKey, pg_server: PostgresCluster
) -> None:
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = database_client(session, key, url, "wrong-password-9931")
    document = run(session, key, client_id, databases=["postgres"])
    [item] = [item for item in document["items"] if item["check"] == "database server reachable"]
    assert item["status"] == "failed" and "password" in item["detail"] and "database_password" in item["fix"]
    assert "wrong-password-9931" not in json.dumps(document)


def test_mariadb_reachable_wrong_password_and_missing_database(
    session: Session, key: SecretKey, mariadb_server: MariadbServer
) -> None:
    mariadb_server.sql("CREATE DATABASE IF NOT EXISTS connectivity_shop")
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    client_id = database_client(session, key, url, MARIADB_PASSWORD)
    document = run(session, key, client_id, databases=["connectivity_shop", "no_such_db"])
    found = statuses(document)
    assert found[("database server reachable", url.rstrip("/"))] == "ok"
    assert found[("database exists", "connectivity_shop")] == "ok"
    assert found[("database exists", "no_such_db")] == "failed"
    assert [item["status"] for item in document["items"] if item["check"] == "dump tools"] == ["ok"]
    queries.set_client_secret(session, key, client_id, ClientSecretName.DATABASE_PASSWORD, "bad-pass-1177")
    session.commit()
    document = run(session, key, client_id, databases=["connectivity_shop"])
    assert statuses(document)[("database server reachable", url.rstrip("/"))] == "failed"
    assert "bad-pass-1177" not in json.dumps(document) and MARIADB_PASSWORD not in json.dumps(document)
    assert shutil.which("mariadb") is not None
