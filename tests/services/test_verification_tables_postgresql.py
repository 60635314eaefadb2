"""A run's verification of a real PostgreSQL database's backup: rows deleted from one table between two
worker runs warn naming that table with its row counts, when the loss reaches the job's threshold."""

from __future__ import annotations

import uuid
from typing import Any

from resguardo.catalog import ClientSecretName, RunState, Transport, Verification, queries
from resguardo.catalog.models import Run
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services import request_run_now
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.service import CREATED, Service
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, pg_connect, pg_server

__all__ = ["pg_server"]
ROWS = 2000  # customers; orders has three times as many
THRESHOLD_PERCENT = 30


def _database_job(service: Service, cluster: PostgresCluster) -> tuple[int, str]:
    """Add a PostgreSQL client and a job dumping a new filled database; return the job's ID and the name."""
    name = f"tables_{uuid.uuid4().hex[:8]}"
    fill_pg_database(cluster, name, rows=ROWS)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{cluster.port}/"
    with service.sessions() as session:
        client = queries.create_client(
            session, name="db-host", transport=Transport.LOCAL, database_url=url, now=CREATED
        )
        queries.set_client_secret(
            session, service.secret_key, client.id, ClientSecretName.DATABASE_PASSWORD, PG_PASSWORD
        )
        session.commit()
        client_id = client.id
    job_id = service.job(
        "sales-db",
        [],
        client_id=client_id,
        source={"kind": "postgresql", "databases": [name]},
        max_retries=0,
        size_change_percent=THRESHOLD_PERCENT,
    )
    return job_id, name


def _run_now(service: Service, job_id: int) -> Run:
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, _state)] = service.worker().run_until_idle()
    with service.sessions() as session:
        return queries.get_run(session, run_id)


def _delete_orders(cluster: PostgresCluster, database: str, count: int) -> None:
    with pg_connect(cluster, database) as connection:
        connection.execute("DELETE FROM orders WHERE id <= %s", (count,))


def _table_reasons(run: Run) -> list[dict[str, Any]]:
    return [reason for reason in run.verification_reasons or [] if reason["code"].startswith("table")]


def test_rows_deleted_from_a_table_beyond_the_threshold_warn_naming_the_table_and_its_counts(
    service: Service, pg_server: PostgresCluster
) -> None:
    job_id, database = _database_job(service, pg_server)
    first = _run_now(service, job_id)
    _delete_orders(pg_server, database, ROWS * 3 // 2)  # half of the 6000 orders
    service.clock.advance(86_400)

    second = _run_now(service, job_id)

    assert first.state is RunState.SUCCEEDED and first.verification is Verification.VERIFIED, first.error
    assert second.state is RunState.SUCCEEDED, second.error
    assert second.verification is Verification.WARNINGS
    [reason] = _table_reasons(second)
    assert reason["code"] == "table_rows_changed"
    assert reason["figures"]["database"] == database and reason["figures"]["direction"] == "down"
    assert reason["figures"]["tables"] == {"public.orders": {"before": 6000, "after": 3000}}
    assert "public.orders 6,000 → 3,000" in reason["message"] and database in reason["message"]
    assert "public.orders" in second.log or "public.orders" in (second.error or "")


def test_rows_deleted_under_the_threshold_give_no_warning(
    service: Service, pg_server: PostgresCluster
) -> None:
    job_id, database = _database_job(service, pg_server)
    _run_now(service, job_id)
    _delete_orders(pg_server, database, 600)  # 10% of the orders
    service.clock.advance(86_400)

    second = _run_now(service, job_id)

    assert second.state is RunState.SUCCEEDED, second.error
    assert second.verification is Verification.VERIFIED, second.verification_reasons
    assert _table_reasons(second) == []
