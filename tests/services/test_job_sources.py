"""Jobs whose sources are databases or SSH trees, run by the worker against real servers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from resguardo.backends import LocalStorage
from resguardo.catalog import ClientSecretName, RunState, Transport, queries
from resguardo.catalog.models import FailureEntry, Run
from resguardo.engine.repository import Repository as EngineRepository
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import Snapshot, load_snapshot
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services import request_run_now
from tests.fixtures.mariadb import PASSWORD as MARIADB_PASSWORD
from tests.fixtures.mariadb import USER as MARIADB_USER
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.service import CREATED, PASSPHRASE, Service, make_tree
from tests.fixtures.sshd import SshServer, public_key
from tests.sources.conftest import (
    PG_PASSWORD,
    fill_mysql_database,
    fill_pg_database,
    mariadb_server,
    pg_server,
)

__all__ = ["mariadb_server", "pg_server"]


def _client(service: Service, name: str, password: str | None = None, **fields: Any) -> int:
    """Add a client with ``fields`` and its database password sealed; return its ID."""
    with service.sessions() as session:
        client = queries.create_client(session, name=name, now=CREATED, **fields)
        if password is not None:
            queries.set_client_secret(
                session, service.secret_key, client.id, ClientSecretName.DATABASE_PASSWORD, password
            )
        session.commit()
        return client.id


def _run_now(service: Service, job_id: int) -> Run:
    """Ask for a run of the job now, let a worker run it, and return the run."""
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, _state)] = service.worker().run_until_idle()
    with service.sessions() as session:
        return queries.get_run(session, run_id)


def _snapshot(service: Service, job_id: int, snapshot_id: str) -> tuple[EngineRepository, Snapshot]:
    with service.sessions() as session:
        location = queries.get_job(session, job_id).repository.url
    repository = EngineRepository.open(LocalStorage(location), PASSPHRASE.encode())
    return repository, load_snapshot(repository, snapshot_id)


def _failures(service: Service) -> list[FailureEntry]:
    with service.sessions() as session:
        return list(session.scalars(select(FailureEntry)))


def test_a_postgresql_job_dumps_one_stream_per_database(service: Service, pg_server: PostgresCluster) -> None:
    names = [f"jobs_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        fill_pg_database(pg_server, name, rows=50)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = _client(service, "db1", PG_PASSWORD, transport=Transport.LOCAL, database_url=url)
    job_id = service.job(
        "pg", [], client_id=client_id, source={"kind": "postgresql", "databases": names}, max_retries=0
    )

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    _repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    dumped = [stream["database"] for stream in snapshot.streams if stream["kind"] == "postgresql.database"]
    assert sorted(dumped) == sorted(names)
    assert any(stream["kind"] == "postgresql.globals" for stream in snapshot.streams)
    assert run.files == len(snapshot.streams) and run.bytes_read > 0
    assert "postgresql" in run.log and PG_PASSWORD not in run.log


def test_a_postgresql_job_with_a_wrong_password_fails_without_a_snapshot_or_the_password(
    service: Service, pg_server: PostgresCluster
) -> None:
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = _client(service, "db1", "wrong-pass-5521", transport=Transport.LOCAL, database_url=url)
    job_id = service.job("pg", [], client_id=client_id, source={"kind": "postgresql"}, max_retries=1)

    run = _run_now(service, job_id)

    assert run.state is RunState.FAILED and run.snapshot_id is None
    assert "password" in run.error
    [entry] = _failures(service)
    assert entry.run_id == run.id and entry.closed_at is None
    with service.sessions() as session:
        runs = list(session.scalars(select(Run).order_by(Run.id)))
    assert [later.attempt for later in runs] == [1, 2]  # the retry is queued as usual
    assert "password" in entry.error
    for text in (run.log, run.error, entry.error):
        assert "wrong-pass-5521" not in text and PG_PASSWORD not in text


def test_a_mariadb_job_dumps_the_chosen_database(service: Service, mariadb_server: MariadbServer) -> None:
    name = f"jobs_{uuid.uuid4().hex[:8]}"
    fill_mysql_database(mariadb_server, name, rows=50)
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    client_id = _client(service, "db2", MARIADB_PASSWORD, transport=Transport.LOCAL, database_url=url)
    job_id = service.job(
        "shop", [], client_id=client_id, source={"kind": "mysql", "databases": [name]}, max_retries=0
    )

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    _repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    assert [stream["database"] for stream in snapshot.streams if "database" in stream] == [name]
    assert MARIADB_PASSWORD not in run.log


@pytest.mark.usefixtures("no_own_credentials")
def test_an_ssh_paths_job_backs_up_with_the_sealed_key_and_restores(
    service: Service, sshd_server: SshServer, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "remote")
    client_id = _client(
        service,
        "web1",
        address="127.0.0.1",
        port=sshd_server.port,
        ssh_user=sshd_server.user,
        ssh_host_key=public_key(sshd_server.host_key),
    )
    with service.sessions() as session:
        queries.set_client_secret(
            session,
            service.secret_key,
            client_id,
            ClientSecretName.SSH_PRIVATE_KEY,
            sshd_server.client_key.read_text(),
        )
        session.commit()
    job_id = service.job("web", [tree], client_id=client_id, max_retries=0)

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    assert run.files == 3 and "over SSH" in run.log
    assert sshd_server.client_key.read_text() not in run.log
    repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    restore(repository, snapshot, str(tmp_path / "restored"))
    restored = tmp_path / "restored" / str(tree).lstrip("/")
    assert {
        str(path.relative_to(restored)): path.read_bytes() for path in restored.rglob("*") if path.is_file()
    } == {str(path.relative_to(tree)): path.read_bytes() for path in tree.rglob("*") if path.is_file()}


def test_an_ssh_job_whose_host_key_is_not_stored_fails_saying_what_to_do(
    service: Service, sshd_server: SshServer, tmp_path: Path
) -> None:
    client_id = _client(
        service, "web1", address="127.0.0.1", port=sshd_server.port, ssh_user=sshd_server.user
    )
    job_id = service.job("web", [tmp_path], client_id=client_id, max_retries=0)

    run = _run_now(service, job_id)

    assert run.state is RunState.FAILED and run.snapshot_id is None
    assert "no SSH private key" in run.error and "resguardo client edit web1" in run.error


def test_a_sqlite_job_copies_the_database_file(service: Service, tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "app.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        connection.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {n}",) for n in range(100)])
    connection.close()
    job_id = service.job("app", [], source={"kind": "sqlite", "paths": [str(database)]}, max_retries=0)

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    _repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    assert [stream["name"] for stream in snapshot.streams] == ["sqlite/app.sqlite3"]
