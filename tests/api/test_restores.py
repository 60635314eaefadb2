"""Restores through the API, carried out by a real worker into real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import uuid
from pathlib import Path

from resguardo.catalog import Role, RunTrigger
from resguardo.catalog.queries import enqueue_run
from tests.api.conftest import NOW, Api
from tests.fixtures.mariadb import PASSWORD as MARIADB_PASSWORD
from tests.fixtures.mariadb import USER as MARIADB_USER
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.restores import backed_up_run, damage_packs, database_client, database_job
from tests.fixtures.service import Service, make_tree
from tests.sources.conftest import (
    PG_PASSWORD,
    fill_mysql_database,
    fill_pg_database,
    mariadb_server,
    mysql_checksums,
    pg_checksums,
    pg_connect,
    pg_server,
)

__all__ = ["mariadb_server", "pg_server"]


def _pg_backup(api: Api, pg_server: PostgresCluster, tmp_path: Path) -> tuple[Service, str, int]:
    """Back up a new PostgreSQL database through a worker run; return the service, its name, the run."""
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    name = f"sales_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=300)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
    client_id = database_client(service, "db1", url, PG_PASSWORD)
    run = backed_up_run(service, database_job(service, "pg", client_id, "postgresql", [name]))
    return service, name, run.id


def _restore(
    api: Api, headers: dict[str, str], service: Service, body: dict[str, object]
) -> dict[str, object]:
    """Start a restore, let the worker carry it out, and return it as the API shows it."""
    started = api.client.post("/api/v1/restores", json=body, headers=headers)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "queued"
    service.worker().run_until_idle()
    shown = api.client.get(f"/api/v1/restores/{started.json()['id']}", headers=headers)
    return shown.json()  # type: ignore[no-any-return]


def _pg_databases(pg_server: PostgresCluster) -> set[str]:
    with pg_connect(pg_server, "postgres") as connection:
        return {str(row[0]) for row in connection.execute("SELECT datname FROM pg_database").fetchall()}


def test_a_database_is_restored_into_a_new_database_then_over_it_only_with_overwrite(
    api: Api, admin: dict[str, str], pg_server: PostgresCluster, tmp_path: Path
) -> None:
    service, name, run_id = _pg_backup(api, pg_server, tmp_path)
    contents = api.client.get(f"/api/v1/runs/{run_id}/contents", headers=admin).json()
    assert [(item["database"], item["kind"]) for item in contents["databases"]] == [
        (name, "postgresql.database")
    ]
    copy = f"{name}_copy"
    body = {"run_id": run_id, "items": [name], "target": {"database": copy}, "reason": "ticket 42"}

    restored = _restore(api, admin, service, body)

    assert restored["state"] == "succeeded", restored["error"]
    assert pg_checksums(pg_server, copy) == pg_checksums(pg_server, name)
    assert restored["bytes_restored"] == contents["databases"][0]["size"] > 0
    assert "checked the data needed" in str(restored["log"]) and PG_PASSWORD not in str(restored["log"])

    with pg_connect(pg_server, copy) as connection:
        connection.execute("DELETE FROM orders WHERE id < 100")
    changed = pg_checksums(pg_server, copy)
    refused = api.client.post("/api/v1/restores", json=body, headers=admin)
    assert refused.status_code == 409 and "already exists" in refused.json()["error"]["message"]
    assert pg_checksums(pg_server, copy) == changed  # untouched

    again = _restore(api, admin, service, {**body, "overwrite": True})
    assert again["state"] == "succeeded", again["error"]
    assert pg_checksums(pg_server, copy) == pg_checksums(pg_server, name)
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin).json()["items"]
    starts = [entry for entry in audit if entry["action"] == "restore.start"]
    assert len(starts) == 2 and starts[0]["after"]["reason"] == "ticket 42"


def test_a_mariadb_database_restored_under_its_default_name_matches_the_source(
    api: Api, admin: dict[str, str], mariadb_server: MariadbServer, tmp_path: Path
) -> None:
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    name = f"shop_{uuid.uuid4().hex[:8]}"
    fill_mysql_database(mariadb_server, name, rows=200)
    url = f"mysql://{MARIADB_USER}@127.0.0.1:{mariadb_server.port}/"
    client_id = database_client(service, "db2", url, MARIADB_PASSWORD)
    run = backed_up_run(service, database_job(service, "shop", client_id, "mysql", [name]))

    restored = _restore(api, admin, service, {"run_id": run.id, "items": [name], "target": {}})

    assert restored["state"] == "succeeded", restored["error"]
    assert restored["target"] == {
        "client_id": client_id,
        "databases": {name: f"{name}_restored"},
        "via": "direct",
    }
    assert mysql_checksums(mariadb_server, f"{name}_restored") == mysql_checksums(mariadb_server, name)


def test_a_damaged_pack_fails_the_restore_before_the_target_is_touched(
    api: Api, admin: dict[str, str], pg_server: PostgresCluster, tmp_path: Path
) -> None:
    service, name, run_id = _pg_backup(api, pg_server, tmp_path)
    assert damage_packs(tmp_path / "repo-for-pg") > 0
    copy = f"{name}_damaged"

    restored = _restore(
        api, admin, service, {"run_id": run_id, "items": [name], "target": {"database": copy}}
    )

    assert restored["state"] == "failed"
    assert "nothing was restored" in str(restored["error"])
    assert copy not in _pg_databases(pg_server)


def test_bad_orders_are_refused_naming_the_field(
    api: Api, admin: dict[str, str], pg_server: PostgresCluster, tmp_path: Path
) -> None:
    service, name, run_id = _pg_backup(api, pg_server, tmp_path)
    with api.session() as session:
        queued = enqueue_run(session, 1, trigger=RunTrigger.MANUAL, now=NOW)
        session.commit()
        queued_id = queued.id
    cases = [
        ({"run_id": queued_id, "items": [name], "target": {}}, "run_id"),
        ({"run_id": run_id, "items": ["nowhere"], "target": {}}, "items"),
        ({"run_id": run_id, "items": [name]}, "target"),
        ({"run_id": run_id, "kind": "paths", "items": ["/"], "target": {}}, "target.folder"),
        ({"run_id": run_id, "items": [name, "x"], "target": {"database": "y"}}, "target.database"),
    ]
    for body, field in cases:
        response = api.client.post("/api/v1/restores", json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        named = {error["details"].get("field")} | {
            item["field"] for item in error["details"].get("errors", [])
        }
        assert field in named, (body, error)
    assert api.client.get("/api/v1/restores", headers=admin).json()["total"] == 0
    del service


def test_viewers_and_requesters_cannot_start_or_cancel_restores_but_custodians_follow_them(
    api: Api, admin: dict[str, str], pg_server: PostgresCluster, tmp_path: Path
) -> None:
    _service, name, run_id = _pg_backup(api, pg_server, tmp_path)
    body = {"run_id": run_id, "items": [name], "target": {}}
    for role in (Role.AUDITOR, Role.REQUESTER, Role.CUSTODIAN, Role.AREA_DIRECTOR):
        _user_id, token = api.user(f"as-{role.value}", [role])
        response = api.client.post("/api/v1/restores", json=body, headers=api.headers(token))
        assert response.status_code == 403, role
    started = api.client.post("/api/v1/restores", json=body, headers=admin).json()
    _user_id, custodian = api.user("keeper", [Role.CUSTODIAN])
    listing = api.client.get("/api/v1/restores", params={"state": "queued"}, headers=api.headers(custodian))
    assert [item["id"] for item in listing.json()["items"]] == [started["id"]]
    refused = api.client.post(f"/api/v1/restores/{started['id']}/cancel", headers=api.headers(custodian))
    assert refused.status_code == 403

    cancelled = api.client.post(f"/api/v1/restores/{started['id']}/cancel", headers=admin)

    assert cancelled.json()["state"] == "cancelled"
    assert api.client.post(f"/api/v1/restores/{started['id']}/cancel", headers=admin).status_code == 409
    retried = api.client.post(f"/api/v1/restores/{started['id']}/retry", headers=admin)
    assert retried.status_code == 202 and retried.json()["items"] == [name]
    assert api.client.post(f"/api/v1/restores/{retried.json()['id']}/retry", headers=admin).status_code == 409
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin).json()["items"]
    assert {"restore.start", "restore.cancel", "restore.retry"} <= {entry["action"] for entry in audit}


def test_paths_are_restored_into_a_folder_with_their_content(
    api: Api, admin: dict[str, str], tmp_path: Path
) -> None:
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    tree = make_tree(tmp_path / "tree")
    run = backed_up_run(service, service.job("files", [tree]))
    contents = api.client.get(f"/api/v1/runs/{run.id}/contents", headers=admin).json()
    assert contents["paths"] == [str(tree)] and contents["databases"] == []
    folder = tmp_path / "restored"
    body = {"run_id": run.id, "kind": "paths", "items": [f"{tree}/sub"], "target": {"folder": str(folder)}}

    restored = _restore(api, admin, service, body)

    assert restored["state"] == "succeeded", restored["error"]
    copy = folder / str(tree).lstrip("/") / "sub"
    for original in (tree / "sub" / "b.bin", tree / "sub" / "deeper" / "c.txt"):
        assert (copy / original.relative_to(tree / "sub")).read_bytes() == original.read_bytes()
    assert not (folder / str(tree).lstrip("/") / "a.txt").exists()  # only what was chosen
    refused = api.client.post("/api/v1/restores", json=body, headers=admin)
    assert refused.status_code == 409  # the folder is not empty any more
