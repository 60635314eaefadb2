"""Database jobs of a client reached over SSH, run by the worker: the dumps run on the client (a real sshd on
127.0.0.1 whose sessions reach the real PostgreSQL and MariaDB servers on loopback) and stream back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from resguardo.backends._sftp_connect import Credentials
from resguardo.catalog import ClientSecretName, RestoreKind, RestoreState, RunState, Transport, queries
from resguardo.core.errors import Conflict
from resguardo.engine.browse import open_file
from resguardo.services.restores import RestoreOrder, request_restore
from resguardo.sources.restore import RestoreTarget, find_database_stream, restore_database
from resguardo.sources.sshcommand import SshClientConnection
from resguardo.sources.sshtree import parse_target
from tests.fixtures.mariadb import PASSWORD as MARIADB_PASSWORD
from tests.fixtures.mariadb import USER as MARIADB_USER
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.service import Service
from tests.fixtures.sshd import SshServer, public_key
from tests.services.test_job_sources import _client, _failures, _run_now, _snapshot
from tests.sources.conftest import (
    PG_PASSWORD,
    fill_mysql_database,
    fill_pg_database,
    mariadb_server,
    pg_checksums,
    pg_server,
    pg_url,
)

__all__ = ["mariadb_server", "pg_server"]


def _ssh_client(service: Service, sshd: SshServer, password: str, **fields: Any) -> int:
    """Add a client reached over ``sshd`` with its key and database password sealed; return its ID."""
    client_id = _client(
        service,
        "db-over-ssh",
        password,
        transport=Transport.SSH,
        address="127.0.0.1",
        port=sshd.port,
        ssh_user=sshd.user,
        ssh_host_key=public_key(sshd.host_key),
        **fields,
    )
    with service.sessions() as session:
        queries.set_client_secret(
            session,
            service.secret_key,
            client_id,
            ClientSecretName.SSH_PRIVATE_KEY,
            sshd.client_key.read_text(),
        )
        session.commit()
    return client_id


@pytest.mark.usefixtures("no_own_credentials")
def test_a_postgresql_job_of_an_ssh_client_dumps_there_and_restores_with_the_same_rows(
    service: Service, sshd_server: SshServer, pg_server: PostgresCluster
) -> None:
    name = f"ssh_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=300)
    before = pg_checksums(pg_server, name)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = _ssh_client(service, sshd_server, PG_PASSWORD, database_url=url)
    job_id = service.job(
        "pg", [], client_id=client_id, source={"kind": "postgresql", "databases": [name]}, max_retries=0
    )

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    assert "over SSH" in run.log and PG_PASSWORD not in run.log
    repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    stream = find_database_stream(snapshot.streams, name, "postgresql.database", snapshot.short_id)
    assert stream["via"] == "ssh" and stream["client"].endswith(f":{sshd_server.port}")
    orders = json.loads(str(stream["tables"]))["public.orders"]
    assert orders["rows"] == 900 and orders["bytes"] > 0 and stream["tables_exact"] == 1
    pg_server.drop_database(name)
    location = parse_target(f"{sshd_server.user}@127.0.0.1:{sshd_server.port}", sshd_server.user)
    with SshClientConnection(
        location, Credentials(str(sshd_server.client_key), str(sshd_server.known_hosts))
    ) as ssh:
        chunks = open_file(repository, snapshot, "/" + str(stream["name"]))
        restore_database(
            chunks, RestoreTarget.parse(pg_url(pg_server)), stream, overwrite=False, ssh=ssh.commands
        )
    assert pg_checksums(pg_server, name) == before


@pytest.mark.usefixtures("no_own_credentials")
def test_a_mariadb_job_of_an_ssh_client_with_a_wrong_password_fails_without_a_snapshot(
    service: Service, sshd_server: SshServer, mariadb_server: MariadbServer
) -> None:
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    client_id = _ssh_client(service, sshd_server, "wrong-pass-7731", database_url=url)
    job_id = service.job("shop", [], client_id=client_id, source={"kind": "mysql"}, max_retries=0)

    run = _run_now(service, job_id)

    assert run.state is RunState.FAILED and run.snapshot_id is None
    assert "Access denied" in run.error and "127.0.0.1" in run.error
    [entry] = _failures(service)
    for text in (run.log, run.error, entry.error):
        assert "wrong-pass-7731" not in text and MARIADB_PASSWORD not in text


@pytest.mark.usefixtures("no_own_credentials")
def test_a_database_job_of_an_ssh_client_may_still_connect_directly(
    service: Service, sshd_server: SshServer, mariadb_server: MariadbServer, tmp_path: Path
) -> None:
    name = f"direct_{uuid.uuid4().hex[:8]}"
    fill_mysql_database(mariadb_server, name, rows=20)
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    client_id = _ssh_client(service, sshd_server, MARIADB_PASSWORD, database_url=url)
    source = {"kind": "mysql", "databases": [name], "via": "direct"}
    job_id = service.job("shop", [], client_id=client_id, source=source, max_retries=0)

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    _repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    stream = find_database_stream(snapshot.streams, name, "mysql.database", snapshot.short_id)
    assert "via" not in stream and json.loads(str(stream["tables"]))[f"{name}.customers"]["rows"] == 20


@pytest.mark.usefixtures("no_own_credentials")
def test_a_restore_into_an_ssh_client_runs_its_tools_there_and_refuses_an_existing_name(
    service: Service, sshd_server: SshServer, pg_server: PostgresCluster
) -> None:
    name = f"back_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=120)
    before = pg_checksums(pg_server, name)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = _ssh_client(service, sshd_server, PG_PASSWORD, database_url=url)
    job_id = service.job(
        "pg", [], client_id=client_id, source={"kind": "postgresql", "databases": [name]}, max_retries=0
    )
    run = _run_now(service, job_id)
    assert run.state is RunState.SUCCEEDED, run.error
    order = RestoreOrder(run_id=run.id, kind=RestoreKind.DATABASE, items=[name])

    with service.sessions() as session:
        restore = request_restore(session, service.secret_key, order, service.clock.now())
        assert restore.target["via"] == "ssh"
        restore_id = restore.id
        session.commit()
    service.worker().run_until_idle()

    with service.sessions() as session:
        restore = queries.get_restore(session, restore_id)
    assert restore.state is RestoreState.SUCCEEDED, restore.error
    assert "over SSH" in restore.log and PG_PASSWORD not in restore.log
    assert pg_checksums(pg_server, f"{name}_restored") == before
    with service.sessions() as session, pytest.raises(Conflict, match=r"already exists .*over SSH"):
        request_restore(session, service.secret_key, order, service.clock.now())
