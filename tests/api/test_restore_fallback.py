"""Before a restore (R23), through the API: a restore whose data is damaged in the run's repository
fails untouched and offers the snapshot's intact copy in a second repository; the retry from the copy
restores a real PostgreSQL database; a person may also see where the snapshot is and choose up front.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from resguardo.catalog import Role
from tests.api.conftest import Api
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.fixtures.restores import (
    backed_up_run,
    content_packs,
    copy_repository,
    damage_packs,
    database_client,
)
from tests.fixtures.service import Service, make_tree
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, pg_checksums, pg_connect, pg_server

__all__ = ["pg_server"]


def _pg_backup_in_two(
    api: Api, pg_server: PostgresCluster, tmp_path: Path
) -> tuple[Service, str, int, dict[str, int]]:
    """Back up a new PostgreSQL database into repository ``first`` by a worker run and copy it into
    ``second``; return the service, the database, the run and the repositories' IDs by name."""
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    name = f"sales_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=300)
    client_id = database_client(
        service, "db1", f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/", PG_PASSWORD
    )
    repositories = {"first": service.repository("first"), "second": service.repository("second")}
    source = {"kind": "postgresql", "databases": [name]}
    job_id = service.job(
        "pg", [], client_id=client_id, source=source, repository_id=repositories["first"], max_retries=0
    )
    run = backed_up_run(service, job_id)
    copy_repository(service, repositories["first"], repositories["second"])
    return service, name, run.id, repositories


def _pg_databases(pg_server: PostgresCluster) -> set[str]:
    with pg_connect(pg_server, "postgres") as connection:
        return {str(row[0]) for row in connection.execute("SELECT datname FROM pg_database").fetchall()}


def _carried_out(api: Api, headers: dict[str, str], service: Service, restore_id: int) -> dict[str, object]:
    service.worker().run_until_idle()
    return api.client.get(f"/api/v1/restores/{restore_id}", headers=headers).json()  # type: ignore[no-any-return]


def test_a_damaged_database_restore_offers_the_copy_and_the_retry_from_it_restores_the_database(
    api: Api, admin: dict[str, str], pg_server: PostgresCluster, tmp_path: Path
) -> None:
    service, name, run_id, repositories = _pg_backup_in_two(api, pg_server, tmp_path)
    assert damage_packs(tmp_path / "repo-first", content_packs(service, repositories["first"])) > 0
    copy = f"{name}_copy"
    body = {"run_id": run_id, "items": [name], "target": {"database": copy}, "reason": "ticket 77"}
    started = api.client.post("/api/v1/restores", json=body, headers=admin).json()

    failed = _carried_out(api, admin, service, started["id"])

    assert failed["state"] == "failed"
    assert copy not in _pg_databases(pg_server)
    alternative = failed["alternative"]
    assert isinstance(alternative, dict)
    assert (alternative["repository_id"], alternative["repository_name"]) == (
        repositories["second"],
        "second",
    )
    assert "an intact copy of this snapshot is in repository 'second'" in str(failed["error"])

    retried = api.client.post(
        f"/api/v1/restores/{started['id']}/retry", json={"from_copy": True}, headers=admin
    )

    assert retried.status_code == 202, retried.text
    again = retried.json()
    assert (again["run_id"], again["repository_id"], again["snapshot_id"]) == (
        run_id,
        repositories["second"],
        alternative["snapshot_id"],
    )
    assert (again["items"], again["target"], again["reason"]) == (
        [name],
        failed["target"],
        "ticket 77",
    )
    restored = _carried_out(api, admin, service, again["id"])
    assert restored["state"] == "succeeded", restored["error"]
    assert pg_checksums(pg_server, copy) == pg_checksums(pg_server, name)
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin).json()["items"]
    [entry] = [item for item in audit if item["action"] == "restore.retry"]
    assert entry["after"]["from_copy"] is True and entry["after"]["repository_id"] == repositories["second"]


def test_a_restore_that_offers_no_copy_is_not_retried_from_one(
    api: Api, admin: dict[str, str], tmp_path: Path
) -> None:
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    tree = make_tree(tmp_path / "tree")
    run = backed_up_run(service, service.job("files", [tree], max_retries=0))
    damage_packs(tmp_path / "repo-for-files", content_packs(service, 1))
    body = {
        "run_id": run.id,
        "kind": "paths",
        "items": [str(tree)],
        "target": {"folder": str(tmp_path / "r")},
    }
    started = api.client.post("/api/v1/restores", json=body, headers=admin).json()
    failed = _carried_out(api, admin, service, started["id"])
    assert failed["alternative"] is None
    assert "no other repository of the catalog holds a copy" in str(failed["error"])

    refused = api.client.post(
        f"/api/v1/restores/{started['id']}/retry", json={"from_copy": True}, headers=admin
    )

    assert refused.status_code == 409
    assert "offers no copy" in refused.json()["error"]["message"]
    bad = api.client.post(
        f"/api/v1/restores/{started['id']}/retry", json={"from_copy": "maybe"}, headers=admin
    )
    assert bad.status_code == 422


def test_where_the_snapshot_is_is_listed_and_a_damaged_tree_refuses_the_order_naming_the_copy(
    api: Api, admin: dict[str, str], tmp_path: Path
) -> None:
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    tree = make_tree(tmp_path / "tree")
    first, second = service.repository("first"), service.repository("second")
    run = backed_up_run(service, service.job("files", [tree], repository_id=first, max_retries=0))
    copy_repository(service, first, second)

    listed = api.client.get(f"/api/v1/runs/{run.id}/copies", headers=admin).json()

    assert [(item["repository_name"], item["copy"]) for item in listed["locations"]] == [
        ("first", False),
        ("second", True),
    ]
    assert listed["locations"][0]["snapshot_id"] == run.snapshot_id and listed["notes"] == []
    damage_packs(tmp_path / "repo-first")  # every pack: the snapshot's trees too
    folder = tmp_path / "restored"
    body = {"run_id": run.id, "kind": "paths", "items": [str(tree)], "target": {"folder": str(folder)}}

    refused = api.client.post("/api/v1/restores", json=body, headers=admin)

    assert refused.status_code == 409, refused.text
    assert f"repository_id {second}" in refused.json()["error"]["details"]["hint"]
    chosen = api.client.post("/api/v1/restores", json={**body, "repository_id": second}, headers=admin)
    assert chosen.status_code == 202, chosen.text
    assert _carried_out(api, admin, service, chosen.json()["id"])["state"] == "succeeded"
    assert (folder / tree.relative_to("/") / "a.txt").read_bytes() == (tree / "a.txt").read_bytes()
    nowhere = api.client.post("/api/v1/restores", json={**body, "repository_id": 999}, headers=admin)
    assert nowhere.status_code == 422 and nowhere.json()["error"]["details"]["field"] == "repository_id"


def test_who_may_list_the_copies_and_retry_from_one(api: Api, admin: dict[str, str], tmp_path: Path) -> None:
    service = Service(api.sessions, api.secret_key, tmp_path)  # type: ignore[arg-type]
    run = backed_up_run(service, service.job("files", [make_tree(tmp_path / "tree")]))
    for role in (Role.AUDITOR, Role.CUSTODIAN, Role.IT_DIRECTOR, Role.OPERATOR):
        _user_id, token = api.user(f"reads-{role.value}", [role])
        assert api.client.get(f"/api/v1/runs/{run.id}/copies", headers=api.headers(token)).status_code == 200
    for role in (Role.REQUESTER, Role.AREA_DIRECTOR):
        _user_id, token = api.user(f"not-{role.value}", [role])
        assert api.client.get(f"/api/v1/runs/{run.id}/copies", headers=api.headers(token)).status_code == 403
    for role in (Role.AUDITOR, Role.CUSTODIAN, Role.REQUESTER):
        _user_id, token = api.user(f"no-retry-{role.value}", [role])
        refused = api.client.post(
            "/api/v1/restores/1/retry", json={"from_copy": True}, headers=api.headers(token)
        )
        assert refused.status_code == 403
