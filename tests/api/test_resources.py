"""CRUD of every resource through the API, pagination and filters, health and metrics."""

from __future__ import annotations

from datetime import timedelta

from resguardo.catalog.enums import Role, RunState
from resguardo.catalog.queries import claim_next_run, finish_run
from resguardo.jobs.scheduling_loop import schedule_pass
from tests.api.conftest import NOW, Api


def _client(api: Api, admin: dict[str, str], name: str = "db1") -> dict:
    response = api.client.post(
        "/api/v1/clients", json={"name": name, "address": f"{name}.example"}, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


def _repository(api: Api, admin: dict[str, str], name: str = "main") -> dict:
    body = {"name": name, "url": f"/srv/{name}", "secrets": {"passphrase": "a passphrase"}}
    response = api.client.post("/api/v1/repositories", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def _category_id(api: Api, admin: dict[str, str], name: str = "databases") -> int:
    items = api.client.get("/api/v1/categories", headers=admin, params={"limit": 500}).json()["items"]
    return next(item["id"] for item in items if item["name"] == name)


def _job(api: Api, admin: dict[str, str], name: str = "nightly") -> dict:
    client, repository = _client(api, admin, f"{name}-host"), _repository(api, admin, f"{name}-repo")
    body = {
        "name": name,
        "client_id": client["id"],
        "repository_id": repository["id"],
        "category_id": _category_id(api, admin),
        "schedule": {"kind": "interval", "every": 60, "unit": "days", "at": "02:00"},
    }
    response = api.client.post("/api/v1/jobs", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def _queued_run(api: Api, admin: dict[str, str], job_id: int) -> int:
    """Ask for a run of the job now, let a scheduling pass queue it; return the run's ID."""
    asked = api.client.post(f"/api/v1/jobs/{job_id}/run", headers=admin)
    assert asked.status_code == 202, asked.text
    [run_id] = schedule_pass(api.sessions, api.clock.now()).queued  # type: ignore[arg-type]
    return run_id


def test_clients_are_created_listed_shown_changed_and_removed(api: Api, admin: dict[str, str]) -> None:
    created = _client(api, admin)
    _client(api, admin, "web1")
    listed = api.client.get("/api/v1/clients", params={"name_contains": "db"}, headers=admin).json()
    assert [item["name"] for item in listed["items"]] == ["db1"] and listed["total"] == 1
    path = f"/api/v1/clients/{created['id']}"
    assert api.client.get(path, headers=admin).json()["address"] == "db1.example"
    changed = api.client.patch(path, json={"port": 2222}, headers=admin)
    assert changed.status_code == 200 and changed.json()["port"] == 2222
    assert api.client.delete(path, headers=admin).status_code == 204
    assert api.client.get(path, headers=admin).status_code == 404


def test_lists_are_paginated(api: Api, admin: dict[str, str]) -> None:
    for number in range(5):
        _client(api, admin, f"host{number}")
    page = api.client.get("/api/v1/clients", params={"limit": 2, "offset": 2}, headers=admin).json()
    assert [item["name"] for item in page["items"]] == ["host2", "host3"]
    assert (page["total"], page["offset"], page["limit"]) == (5, 2, 2)


def test_repository_shows_that_a_passphrase_is_set_but_never_the_passphrase(
    api: Api, admin: dict[str, str]
) -> None:
    created = _repository(api, admin)
    assert created["has_passphrase"] is True and created["secrets_set"] == ["passphrase"]
    path = f"/api/v1/repositories/{created['id']}"
    changed = api.client.patch(
        path, json={"notes": "offsite", "remove_secrets": ["passphrase"]}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["has_passphrase"] is False
    assert api.client.delete(path, headers=admin).status_code == 204


def test_a_repositorys_limit_of_concurrent_runs_is_two_by_default_and_changes_audited(
    api: Api, admin: dict[str, str]
) -> None:
    created = _repository(api, admin)
    path = f"/api/v1/repositories/{created['id']}"
    changed = api.client.patch(path, json={"max_concurrent_runs": 1}, headers=admin)
    other = api.client.post(
        "/api/v1/repositories",
        json={"name": "wide", "url": "/srv/wide", "max_concurrent_runs": 64},
        headers=admin,
    )
    audit = api.client.get("/api/v1/audit", headers=admin).json()["items"]

    assert created["max_concurrent_runs"] == 2
    assert changed.status_code == 200 and changed.json()["max_concurrent_runs"] == 1
    assert api.client.get(path, headers=admin).json()["max_concurrent_runs"] == 1
    assert other.status_code == 201 and other.json()["max_concurrent_runs"] == 64
    [update] = [entry for entry in audit if entry["action"] == "repository.update"]
    assert (update["before"]["max_concurrent_runs"], update["after"]["max_concurrent_runs"]) == (2, 1)


def test_categories_are_created_and_changed(api: Api, admin: dict[str, str]) -> None:
    body = {
        "name": "mail",
        "title_es": "Correo",
        "title_en": "Mail",
        "default_schedule": {"kind": "weekly", "weekdays": ["mon"], "at": "03:00"},
        "default_retention": {"keep_last": 4},
    }
    created = api.client.post("/api/v1/categories", json=body, headers=admin)
    assert created.status_code == 201, created.text
    path = f"/api/v1/categories/{created.json()['id']}"
    changed = api.client.patch(path, json={"register": "DSE 05"}, headers=admin)
    assert changed.json()["register"] == "DSE 05"
    assert api.client.delete(path, headers=admin).status_code == 204


def test_jobs_are_created_paused_run_now_and_removed(api: Api, admin: dict[str, str]) -> None:
    job = _job(api, admin)
    # Stored in full, the interval counting from the day the job was created.
    assert job["schedule"] == {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "start": job["created_at"][:10],
        "at": "02:00",
        "timezone": "UTC",
        "window": None,
    }
    assert job["retention"]  # the category's default
    path = f"/api/v1/jobs/{job['id']}"
    assert api.client.patch(path, json={"paused": True}, headers=admin).json()["paused"] is True
    assert api.client.get("/api/v1/jobs", params={"paused": True}, headers=admin).json()["total"] == 1
    paused = api.client.post(f"{path}/run", headers=admin)
    assert paused.status_code == 409 and "paused" in paused.json()["error"]["message"]
    api.client.patch(path, json={"paused": False}, headers=admin)
    asked = api.client.post(f"{path}/run", headers=admin)
    assert asked.status_code == 202 and asked.json()["run_now_requested_at"] is not None
    assert api.client.post(f"{path}/run", headers=admin).status_code == 202  # one request, kept
    [run_id] = schedule_pass(api.sessions, api.clock.now()).queued  # type: ignore[arg-type]
    run = api.client.get(f"/api/v1/runs/{run_id}", headers=admin).json()
    assert run["state"] == "queued" and run["trigger"] == "manual"
    assert api.client.get(path, headers=admin).json()["run_now_requested_at"] is None
    kept = api.client.delete(path, headers=admin)  # its run's record must be kept a year (R21)
    assert kept.status_code == 409 and "pause the job" in kept.json()["error"]["message"] + str(kept.json())
    assert api.client.get(path, headers=admin).status_code == 200
    unused = _job(api, admin, name="never-ran")
    assert api.client.delete(f"/api/v1/jobs/{unused['id']}", headers=admin).status_code == 204


def test_runs_are_listed_by_state_shown_and_cancelled(api: Api, admin: dict[str, str]) -> None:
    job = _job(api, admin)
    run = {"id": _queued_run(api, admin, job["id"])}
    listed = api.client.get(
        "/api/v1/runs", params={"job_id": job["id"], "state": "queued"}, headers=admin
    ).json()
    assert [item["id"] for item in listed["items"]] == [run["id"]]
    assert "log" in api.client.get(f"/api/v1/runs/{run['id']}", headers=admin).json()
    cancelled = api.client.post(f"/api/v1/runs/{run['id']}/cancel", headers=admin)
    assert cancelled.json()["state"] == "cancelled"
    assert api.client.post(f"/api/v1/runs/{run['id']}/cancel", headers=admin).status_code == 409
    bad_state = api.client.get("/api/v1/runs", params={"state": "exploded"}, headers=admin)
    assert (
        bad_state.status_code == 422 and bad_state.json()["error"]["details"]["errors"][0]["field"] == "state"
    )


def _failed_run(api: Api, admin: dict[str, str]) -> int:
    job = _job(api, admin)
    api.client.patch(f"/api/v1/jobs/{job['id']}", json={"max_retries": 0}, headers=admin)
    _queued_run(api, admin, job["id"])
    with api.session() as session:
        run = claim_next_run(session, "worker-1", NOW + timedelta(seconds=1))
        assert run is not None
        finish_run(
            session, run.id, "worker-1", RunState.FAILED, NOW + timedelta(minutes=1), error="disk full"
        )
        session.commit()
    return job["id"]


def test_failures_are_listed_and_their_analysis_recorded(api: Api, admin: dict[str, str]) -> None:
    job_id = _failed_run(api, admin)
    listed = api.client.get(
        "/api/v1/failures", params={"job_id": job_id, "open_only": True}, headers=admin
    ).json()
    assert listed["total"] == 1 and listed["items"][0]["error"] == "disk full"
    path = f"/api/v1/failures/{listed['items'][0]['id']}"
    changed = api.client.patch(
        path, json={"cause": "full volume", "corrective_action": "grew it"}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["cause"] == "full volume" and changed.json()["recorded_by_id"] is not None


def test_users_are_created_with_password_roles_and_changed(api: Api, admin: dict[str, str]) -> None:
    body = {"username": "ana", "password": "long enough password", "roles": ["operator"], "language": "en"}
    created = api.client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["roles"] == ["operator"] and user["has_password"] is True and "password" not in user
    path = f"/api/v1/users/{user['id']}"
    changed = api.client.patch(path, json={"roles": ["auditor", "custodian"], "active": False}, headers=admin)
    assert changed.json()["roles"] == ["auditor", "custodian"] and changed.json()["active"] is False
    assert api.client.get("/api/v1/users", params={"role": "auditor"}, headers=admin).json()["total"] == 1
    assert api.client.delete(path, headers=admin).status_code == 204


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(api: Api, admin: dict[str, str]) -> None:
    created = api.client.post("/api/v1/tokens", json={"name": "backup script"}, headers=admin)
    assert created.status_code == 201
    token = created.json()["token"]
    listed = api.client.get("/api/v1/tokens", headers=admin).json()["items"]
    assert all("token" not in item for item in listed) and len(listed) == 2
    mine = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/session", headers=mine).json()["method"] == "token"
    assert api.client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=admin).status_code == 204
    assert api.client.get("/api/v1/session", headers=mine).status_code == 401


def test_audit_log_records_who_changed_what_before_and_after(api: Api, admin: dict[str, str]) -> None:
    created = _client(api, admin)
    api.client.patch(f"/api/v1/clients/{created['id']}", json={"port": 2200}, headers=admin)
    entries = api.client.get(
        "/api/v1/audit", params={"object_type": "client", "object_id": created["id"]}, headers=admin
    ).json()["items"]
    assert [entry["action"] for entry in entries] == ["client.update", "client.create"]
    assert entries[0]["actor_name"] == "admin"
    assert (entries[0]["before"]["port"], entries[0]["after"]["port"]) == (22, 2200)


def test_healthz_answers_without_authentication(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_metrics_show_runs_by_state_bytes_and_last_success(api: Api, admin: dict[str, str]) -> None:
    job = _job(api, admin)
    _queued_run(api, admin, job["id"])
    with api.session() as session:
        run = claim_next_run(session, "worker-1", NOW)
        assert run is not None
        finish_run(
            session,
            run.id,
            "worker-1",
            RunState.SUCCEEDED,
            NOW + timedelta(seconds=90),
            bytes_read=1000,
            bytes_added=400,
        )
        session.commit()
    text = api.client.get("/metrics").text
    assert 'resguardo_runs{state="succeeded"} 1.0' in text
    assert 'resguardo_bytes_added{repository="nightly-repo"} 400.0' in text
    assert 'resguardo_last_run_duration_seconds{job="nightly"} 90.0' in text
    line = next(
        line for line in text.splitlines() if line.startswith("resguardo_last_success_timestamp_seconds{")
    )
    assert float(line.split()[-1]) == (NOW + timedelta(seconds=90)).timestamp()


def test_departments_are_managed_by_administrators_and_one_with_users_is_kept(
    api: Api, admin: dict[str, str]
) -> None:
    created = api.client.post(
        "/api/v1/departments", json={"name": "Finanzas", "description": "nómina"}, headers=admin
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/departments/{created.json()['id']}"
    renamed = api.client.patch(path, json={"name": "Finanzas y nómina"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["description"] == "nómina"
    duplicate = api.client.post("/api/v1/departments", json={"name": "Finanzas y nómina"}, headers=admin)
    assert duplicate.status_code == 409
    too_long = api.client.post("/api/v1/departments", json={"name": "x" * 500}, headers=admin)
    assert too_long.status_code == 422 and "name" in too_long.text

    _requester_id, token = api.user("ana", [Role.REQUESTER])
    assert api.client.get("/api/v1/departments", headers=api.headers(token)).json()["total"] == 1
    member = {
        "username": "luis",
        "password": "a long enough password",
        "department_id": created.json()["id"],
    }
    assert api.client.post("/api/v1/users", json=member, headers=admin).status_code == 201
    refused = api.client.delete(path, headers=admin)
    assert refused.status_code == 409 and "luis" in refused.json()["error"]["message"]

    users = api.client.get("/api/v1/users", params={"limit": 100}, headers=admin).json()["items"]
    luis = next(user for user in users if user["username"] == "luis")
    api.client.patch(f"/api/v1/users/{luis['id']}", json={"department_id": None}, headers=admin)
    assert api.client.delete(path, headers=admin).status_code == 204
    actions = [entry["action"] for entry in api.client.get("/api/v1/audit", headers=admin).json()["items"]]
    assert {"department.create", "department.update", "department.delete"} <= set(actions)
