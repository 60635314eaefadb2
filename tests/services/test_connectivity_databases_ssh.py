"""The connectivity test of an SSH client whose database dumps run there: tools, versions, server and
databases checked from the client (a real sshd on 127.0.0.1, real PostgreSQL and MariaDB on loopback)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import ClientSecretName, SecretKey, queries
from tests.fixtures.mariadb import PASSWORD as MARIADB_PASSWORD
from tests.fixtures.mariadb import USER as MARIADB_USER
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.sshd import SshServer
from tests.services.test_connectivity import NOW, key, run, session, ssh_client, statuses
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, mariadb_server, pg_server

__all__ = ["key", "mariadb_server", "pg_server", "session"]


def _with_database(session: Session, key: SecretKey, client_id: int, url: str, password: str) -> None:
    queries.update_client(session, client_id, {"database_url": url}, now=NOW)
    queries.set_client_secret(session, key, client_id, ClientSecretName.DATABASE_PASSWORD, password)
    session.commit()


def _items(document: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [item for item in document["items"] if item["check"] == check]


def test_postgresql_is_checked_from_the_ssh_client_with_its_tools(
    session: Session, key: SecretKey, sshd_server: SshServer, pg_server: PostgresCluster
) -> None:
    name = f"remote_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=10)
    client_id = ssh_client(session, key, sshd_server)
    _with_database(
        session, key, client_id, f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/", PG_PASSWORD
    )

    document = run(session, key, client_id, databases=[name, "no_such_db"])

    [server] = _items(document, "database server reachable")
    assert server["status"] == "ok" and "from " in server["target"]
    [tools] = _items(document, "dump tools")
    assert tools["status"] == "ok" and "on the client" in tools["detail"] and "/15/bin" in tools["detail"]
    found = statuses(document)
    assert [found[(check, target)] for check, target in found if check == "database exists"] == [
        "ok",
        "failed",
    ]
    assert PG_PASSWORD not in json.dumps(document)


def test_a_wrong_password_from_the_ssh_client_says_what_to_fix(
    session: Session, key: SecretKey, sshd_server: SshServer, mariadb_server: MariadbServer
) -> None:
    client_id = ssh_client(session, key, sshd_server)
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    _with_database(session, key, client_id, url, "bad-pass-4410")

    document = run(session, key, client_id, databases=["mysql"])

    [server] = _items(document, "database server reachable")
    assert server["status"] == "failed" and "Access denied" in server["detail"]
    assert "as seen from the client" in server["fix"]
    [tools] = _items(document, "dump tools")
    assert tools["status"] == "ok" and "mariadb-dump" in tools["target"]
    assert "bad-pass-4410" not in json.dumps(document)
    _with_database(session, key, client_id, url, MARIADB_PASSWORD)
    document = run(session, key, client_id, databases=["mysql"])
    assert [item["status"] for item in _items(document, "database server reachable")] == ["ok"]
