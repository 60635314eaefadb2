"""``resguardo restores start|list|show|cancel`` on the catalog (local) and on a server (remote): a database
dumped by a worker's run is restored under a new name by a worker, and the commands follow it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from resguardo.catalog import load_secret_key
from tests.cli.catalog_modes import opened_mode
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.restores import backed_up_run, database_client, database_job
from tests.fixtures.service import Service
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, pg_checksums, pg_server

__all__ = ["pg_server"]


@pytest.mark.parametrize("mode_name", ["local", "remote"])
def test_restores_start_list_show_and_cancel_in_both_modes(
    mode_name: str, pg_server: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with opened_mode(mode_name, tmp_path, monkeypatch) as mode:
        service = Service(mode.sessions, load_secret_key(mode.data_dir), tmp_path)
        name = f"cli_{mode_name}_{uuid.uuid4().hex[:6]}"
        fill_pg_database(pg_server, name, rows=100)
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
        client_id = database_client(service, "db1", url, PG_PASSWORD)
        run = backed_up_run(service, database_job(service, "pg", client_id, "postgresql", [name]))
        copy = f"{name}_copy"

        started = mode.cli(
            "restores", "start", "--run", str(run.id), "--database", name, "--to-database", copy,
            "--client", "db1", "--reason", "audit sample",
        )  # fmt: skip
        assert started.exit_code == 0, started.stdout
        assert started.json()["state"] == "queued" and started.json()["reason"] == "audit sample"
        service.worker().run_until_idle()

        listed = mode.cli("restores", "list", "--state", "succeeded")
        assert [item["id"] for item in listed.json()] == [started.json()["id"]]
        shown = mode.cli("restores", "show", str(started.json()["id"]), json=False)
        assert "state: succeeded" in shown.stdout and "checked the data needed" in shown.stdout
        assert pg_checksums(pg_server, copy) == pg_checksums(pg_server, name)

        again = mode.cli("restores", "start", "--run", str(run.id), "--database", name, "--to-database", copy)
        assert again.exit_code == 1 and "already exists" in again.stdout + again.stderr
        unknown = mode.cli("restores", "start", "--run", str(run.id), "--database", "nothing")
        assert unknown.exit_code == 2 and "holds no database" in unknown.stdout + unknown.stderr
        queued = mode.cli("restores", "start", "--run", str(run.id), "--database", name)
        cancelled = mode.cli("restores", "cancel", str(queued.json()["id"]))
        assert cancelled.json()["state"] == "cancelled"
        assert mode.cli("restores", "cancel", str(queued.json()["id"])).exit_code == 1
        retried = mode.cli("restores", "retry", str(queued.json()["id"]))
        assert retried.json()["state"] == "queued" and retried.json()["id"] > queued.json()["id"]
