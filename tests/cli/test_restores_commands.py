"""``resguardo restores start|list|show|cancel|retry`` on the catalog (local) and on a server (remote): a
database dumped by a worker's run is restored under a new name by a worker, and the commands follow it;
a restore whose data is damaged is retried from the copy in a second repository (``--from-copy``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from resguardo.catalog import load_secret_key
from tests.cli.catalog_modes import opened_mode
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.restores import (
    backed_up_run,
    content_packs,
    copy_repository,
    damage_packs,
    database_client,
    database_job,
)
from tests.fixtures.service import Service, make_tree
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


@pytest.mark.parametrize("mode_name", ["local", "remote"])
def test_restores_retry_from_copy_restores_from_the_second_repository_in_both_modes(
    mode_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with opened_mode(mode_name, tmp_path, monkeypatch) as mode:
        service = Service(mode.sessions, load_secret_key(mode.data_dir), tmp_path)
        tree = make_tree(tmp_path / "tree")
        first, second = service.repository("first"), service.repository("second")
        run = backed_up_run(service, service.job("files", [tree], repository_id=first, max_retries=0))
        copy_repository(service, first, second)
        damage_packs(tmp_path / "repo-first", content_packs(service, first))
        folder = tmp_path / "restored"
        started = mode.cli(
            "restores", "start", "--run", str(run.id), "--path", str(tree), "--folder", str(folder)
        )  # fmt: skip
        assert started.exit_code == 0, started.stdout + started.stderr
        service.worker().run_until_idle()
        failed = mode.cli("restores", "show", str(started.json()["id"]))
        assert (
            failed.json()["state"] == "failed" and failed.json()["alternative"]["repository_name"] == "second"
        )
        plain = mode.cli("restores", "show", str(started.json()["id"]), json=False)
        assert "alternative:" in plain.stdout and "'second'" in plain.stdout

        retried = mode.cli("restores", "retry", str(started.json()["id"]), "--from-copy", json=False)

        assert retried.exit_code == 0, retried.stdout + retried.stderr
        assert f"from repository {second}" in retried.stdout
        service.worker().run_until_idle()
        restored = mode.cli("restores", "list", "--state", "succeeded").json()
        assert [(item["repository_id"], item["run_id"]) for item in restored] == [(second, run.id)]
        assert (folder / tree.relative_to("/") / "sub" / "b.bin").read_bytes() == (
            tree / "sub" / "b.bin"
        ).read_bytes()
        again = mode.cli("restores", "retry", str(restored[0]["id"]), "--from-copy")
        assert again.exit_code == 1 and "only a failed or cancelled restore" in again.stdout + again.stderr
