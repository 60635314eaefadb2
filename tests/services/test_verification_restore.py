"""Restore tests of jobs: files into a sandbox compared by hash, database dumps into real test servers."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import update

from resguardo.backends import LocalStorage
from resguardo.catalog import ClientSecretName, RunState, RunTrigger, Transport, VerificationState, queries
from resguardo.catalog.models import Job, Run
from resguardo.engine.browse import open_file
from resguardo.engine.repository import Repository as EngineRepository
from resguardo.engine.snapshot import load_snapshot
from resguardo.engine.streams import StreamsOptions, StreamSource, backup_streams
from resguardo.sources.addresses import parse_address
from resguardo.sources.scratch import database_exists
from tests.fixtures.mariadb import PASSWORD as MARIADB_PASSWORD
from tests.fixtures.mariadb import USER as MARIADB_USER
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.service import CREATED, PASSPHRASE, Service
from tests.services.verification_helpers import (
    back_up,
    flip_bytes,
    pack_ids,
    pack_path,
    random_tree,
    small_pack_repository,
    verify,
)
from tests.sources.conftest import (
    PG_PASSWORD,
    fill_mysql_database,
    fill_pg_database,
    mariadb_server,
    pg_server,
)

__all__ = ["mariadb_server", "pg_server"]


def test_a_file_restore_test_passes_and_compares_every_restored_file(
    service: Service, tmp_path: Path
) -> None:
    job = service.job("files", [random_tree(tmp_path / "tree", 6, 90_000, seed=8)])
    run = back_up(service, job)

    record = verify(service, job_id=job)

    assert record.state is VerificationState.PASSED, record.summary
    assert (record.run_id, record.snapshot_id) == (run.id, run.snapshot_id)
    assert record.files_restored == 6 and record.bytes_read == 6 * 90_000
    assert record.evidence["sampled"] is False and record.evidence["problems"] == []
    assert "every file matches" in record.summary


def test_a_large_snapshot_is_tested_on_a_random_sample_of_its_files(service: Service, tmp_path: Path) -> None:
    job = service.job("many", [random_tree(tmp_path / "tree", 12, 2_000, seed=9)])
    with service.sessions() as session:
        queries.set_job_restore_test(session, job, sample_files=4)
        session.commit()
    back_up(service, job)

    record = verify(service, job_id=job)

    assert record.state is VerificationState.PASSED
    assert record.evidence["sampled"] is True and record.files_restored == 4
    assert record.evidence["files_in_snapshot"] == 12 and len(record.evidence["files"]) == 4


def test_a_file_restore_test_fails_when_a_pack_is_damaged_and_marks_the_run(
    service: Service, tmp_path: Path
) -> None:
    repository_id, location = small_pack_repository(service, "fragile")
    job = service.job(
        "files", [random_tree(tmp_path / "tree", 6, 400_000, seed=10)], repository_id=repository_id
    )
    run = back_up(service, job)
    for pack in pack_ids(location):
        flip_bytes(pack_path(location, pack), 200)

    record = verify(service, job_id=job)

    assert record.state is VerificationState.FAILED
    assert record.evidence["problems"] and record.error
    with service.sessions() as session:
        marked = queries.get_run(session, run.id)
        assert marked.damaged_at is not None and "restore test" in marked.damage


def _client(service: Service, name: str, url: str, password: str) -> int:
    with service.sessions() as session:
        client = queries.create_client(
            session, name=name, now=CREATED, transport=Transport.LOCAL, database_url=url
        )
        queries.set_client_secret(
            session, service.secret_key, client.id, ClientSecretName.DATABASE_PASSWORD, password
        )
        session.commit()
        return client.id


def _test_server(service: Service, kind: str, url: str, password: str) -> None:
    with service.sessions() as session:
        queries.set_restore_test_server(session, service.secret_key, kind, url, password, CREATED, "tester")
        session.commit()


class _Bytes:
    """A finished stream of fixed bytes."""

    def __init__(self, data: bytes) -> None:
        self.reader: BinaryIO = io.BytesIO(data)

    def finish(self) -> None:
        """Nothing to wait for."""

    def abort(self) -> None:
        """Nothing to release."""


def _truncated_backup(service: Service, job_id: int, good: Run, counts: dict[str, int]) -> None:
    """Save a snapshot whose dump is the first half of the good one's, recorded as a newer run."""
    with service.sessions() as session:
        location = queries.get_job(session, job_id).repository.url
    repository = EngineRepository.open(LocalStorage(location), PASSPHRASE.encode())
    snapshot = load_snapshot(repository, str(good.snapshot_id))
    sources = []
    for stream in snapshot.streams:
        data = b"".join(open_file(repository, snapshot, "/" + str(stream["name"])))
        description = {key: value for key, value in stream.items() if key not in ("name", "size")}
        if "database" in stream:
            data = data[: len(data) // 2]
            description["tables"] = json.dumps(
                {name: {"rows": rows, "bytes": 0} for name, rows in counts.items()}
            )
            description["tables_exact"] = 1
        sources.append(StreamSource(str(stream["name"]), lambda data=data: _Bytes(data), description))
    saved = backup_streams(repository, sources, StreamsOptions(tags=["truncated"], workers=2))
    with service.sessions() as session:
        session.add(
            Run(
                job_id=job_id,
                state=RunState.SUCCEEDED,
                trigger=RunTrigger.MANUAL,
                queued_at=service.clock.now(),
                not_before=service.clock.now(),
                finished_at=service.clock.now(),
                snapshot_id=saved.snapshot.id,
            )
        )
        session.commit()


def _database_case(
    service: Service, kind: str, url: str, password: str, fill: object, counts: dict[str, int]
) -> tuple[int, Run]:
    name = f"verify_{uuid.uuid4().hex[:8]}"
    fill(name)  # type: ignore[operator]
    client = _client(service, f"{kind}-client", url, password)
    job = service.job(
        f"{kind}-job", [], client_id=client, source={"kind": kind, "databases": [name]}, max_retries=0
    )
    run = back_up(service, job)
    assert run.state is RunState.SUCCEEDED, run.error
    _test_server(service, kind, url, password)
    return job, run


def test_a_postgresql_restore_test_restores_counts_and_drops_the_scratch_database_and_a_truncated_dump_fails(
    service: Service, pg_server: PostgresCluster
) -> None:
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    counts = {"public.customers": 40, "public.orders": 120}
    job, run = _database_case(
        service,
        "postgresql",
        url,
        PG_PASSWORD,
        lambda name: fill_pg_database(pg_server, name, rows=40),
        counts,
    )

    passed = verify(service, job_id=job)

    assert passed.state is VerificationState.PASSED, passed.summary
    [tested] = [item for item in passed.evidence["databases"] if item.get("tables")]
    assert tested["tables"] == counts and tested["result"] == "passed"
    server = parse_address(url).with_password(PG_PASSWORD)
    assert not database_exists(server, tested["scratch_database"])
    assert PG_PASSWORD not in json.dumps(passed.evidence)

    _truncated_backup(service, job, run, counts)
    failed = verify(service, job_id=job)

    assert failed.state is VerificationState.FAILED
    assert "did not restore" in failed.error
    assert not database_exists(server, f"resguardo_test_{failed.id}_1")


def test_a_mariadb_restore_test_compares_row_counts_and_a_truncated_dump_fails(
    service: Service, mariadb_server: MariadbServer
) -> None:
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    holder: dict[str, str] = {}

    def fill(name: str) -> None:
        holder["name"] = name
        fill_mysql_database(mariadb_server, name, rows=30)

    job, run = _database_case(service, "mysql", url, MARIADB_PASSWORD, fill, {})
    counts = {f"{holder['name']}.customers": 30, f"{holder['name']}.audit": 30}

    passed = verify(service, job_id=job)

    assert passed.state is VerificationState.PASSED, passed.summary
    [tested] = [item for item in passed.evidence["databases"] if item.get("tables")]
    assert tested["tables"] == counts
    assert not database_exists(parse_address(url).with_password(MARIADB_PASSWORD), tested["scratch_database"])

    _truncated_backup(service, job, run, counts)
    failed = verify(service, job_id=job)

    assert failed.state is VerificationState.FAILED, failed.summary


def test_a_database_restore_test_without_a_test_server_fails_saying_so(
    service: Service, pg_server: PostgresCluster
) -> None:
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    name = f"verify_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=5)
    client = _client(service, "pg", url, PG_PASSWORD)
    job = service.job("pg-job", [], client_id=client, source={"kind": "postgresql", "databases": [name]})
    back_up(service, job)
    with service.sessions() as session:
        session.execute(update(Job).where(Job.id == job).values(paused=True))
        session.commit()

    record = verify(service, job_id=job)

    assert record.state is VerificationState.FAILED
    assert "no postgresql server is configured for restore tests" in record.error
