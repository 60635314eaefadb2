"""GET /api/v1/dashboard: the console's figures over the API, with each job's next run, for the roles
that read runs."""

from __future__ import annotations

from datetime import timedelta

from resguardo.catalog.enums import Role, RunState, RunTrigger
from resguardo.catalog.queries import (
    create_client,
    create_job,
    create_repository,
    enqueue_run,
    find_category,
)
from tests.api.conftest import NOW, Api


def _job_with_a_run(api: Api) -> int:
    with api.session() as session:
        client = create_client(session, name="db1", address="db1.example", now=NOW)
        repository = create_repository(session, api.secret_key, name="main", url="/srv/main", now=NOW)
        job = create_job(
            session,
            name="nightly",
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            schedule={"kind": "daily", "at": "02:00"},
            now=NOW,
        )
        run = enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
        run.state = RunState.SUCCEEDED
        run.started_at, run.finished_at = NOW, NOW + timedelta(minutes=3)
        run.bytes_read, run.bytes_added = 5000, 1200
        session.commit()
        return job.id


def test_dashboard_shows_jobs_with_last_and_next_run_bytes_and_days(api: Api, admin: dict[str, str]) -> None:
    job_id = _job_with_a_run(api)

    answer = api.client.get("/api/v1/dashboard", params={"days": 7}, headers=admin)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    [job] = body["jobs"]["items"]
    assert (body["jobs"]["total"], body["jobs"]["offset"], body["jobs"]["limit"]) == (1, 0, 50)
    assert job["id"] == job_id and job["name"] == "nightly" and job["repository"] == "main"
    assert job["last_run"]["state"] == "succeeded"
    assert job["next_run_at"] == "2026-03-03T02:00:00+00:00"
    assert job["open_failures"] == 0 and body["open_failures"] == 0
    assert body["repositories"] == [
        {
            "id": body["repositories"][0]["id"],
            "name": "main",
            "bytes_read": 5000,
            "bytes_added": 1200,
            "runs": 1,
        }
    ]
    assert len(body["days"]) == 7
    assert body["days"][-1] == {
        "day": "2026-03-02",
        "runs": 1,
        "succeeded": 1,
        "partial": 0,
        "failed": 0,
        "bytes_read": 5000,
        "bytes_added": 1200,
    }


def test_dashboard_is_refused_to_requesters_and_its_days_are_checked(api: Api, admin: dict[str, str]) -> None:
    _user_id, token = api.user("asker", [Role.REQUESTER])
    _custodian_id, custodian = api.user("keeper", [Role.CUSTODIAN])

    assert api.client.get("/api/v1/dashboard", headers=api.headers(token)).status_code == 403
    assert api.client.get("/api/v1/dashboard", headers=api.headers(custodian)).status_code == 200
    too_many = api.client.get("/api/v1/dashboard", params={"days": 1000}, headers=admin)
    assert too_many.status_code == 422 and too_many.json()["error"]["details"]["errors"][0]["field"] == "days"
    huge_page = api.client.get("/api/v1/dashboard", params={"limit": 100_000}, headers=admin)
    assert huge_page.status_code == 422 and "limit" in huge_page.text
