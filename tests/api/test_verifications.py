"""The verification register through the API: verify now, filters, CSV export, settings, test servers."""

from __future__ import annotations

import csv
import io

from resguardo.catalog import Role
from resguardo.catalog.queries import create_client, create_job, create_repository, find_category
from tests.api.conftest import NOW, Api


def _job(api: Api) -> tuple[int, int]:
    with api.session() as session:
        client = create_client(session, name="vhost", address="v.example", now=NOW)
        repository = create_repository(session, api.secret_key, name="vrepo", url="/srv/v", now=NOW)
        job = create_job(
            session,
            name="vjob",
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            now=NOW,
        )
        session.commit()
        return repository.id, job.id


def test_an_operator_queues_verifications_an_auditor_lists_filters_and_exports_them(api: Api) -> None:
    repository_id, job_id = _job(api)
    operator = api.headers(api.user("olga", [Role.OPERATOR])[1])
    auditor = api.headers(api.user("aldo", [Role.AUDITOR])[1])

    scrub = api.client.post("/api/v1/verifications", json={"repository_id": repository_id}, headers=operator)
    test = api.client.post("/api/v1/verifications", json={"job_id": job_id}, headers=operator)
    again = api.client.post("/api/v1/verifications", json={"job_id": job_id}, headers=operator)
    refused = api.client.post("/api/v1/verifications", json={"job_id": job_id}, headers=auditor)

    assert scrub.status_code == 201 and scrub.json()["kind"] == "scrub" and scrub.json()["state"] == "queued"
    assert test.json()["kind"] == "restore_test" and test.json()["requested_by"] == "olga"
    assert again.status_code == 409 and "queued or running already" in again.json()["error"]["message"]
    assert refused.status_code == 403
    listed = api.client.get("/api/v1/verifications", params={"kind": "restore_test"}, headers=auditor).json()
    assert [item["id"] for item in listed["items"]] == [test.json()["id"]] and listed["total"] == 1
    by_repository = api.client.get(
        "/api/v1/verifications", params={"repository_id": repository_id, "state": "queued"}, headers=auditor
    ).json()
    assert by_repository["total"] == 2
    later = api.client.get("/api/v1/verifications", params={"since": "2100-01-01T00:00:00Z"}, headers=auditor)
    assert later.json()["total"] == 0
    naive = api.client.get("/api/v1/verifications", params={"until": "2100-01-01T00:00:00"}, headers=auditor)
    assert naive.status_code == 200 and naive.json()["total"] == 2  # a moment without a zone is UTC
    shown = api.client.get(f"/api/v1/verifications/{scrub.json()['id']}", headers=auditor)
    assert shown.json()["evidence"] == {}
    for url, params in (("/api/v1/verifications.csv", {}), ("/api/v1/verifications", {"format": "csv"})):
        exported = api.client.get(url, params=params, headers=auditor)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert {row["kind"] for row in rows} == {"scrub", "restore_test"}
        assert {row["job"] for row in rows} == {"", "vjob"}
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=auditor).json()["items"]
    assert sum(entry["action"] == "verification.request" for entry in audit) == 2


def test_verify_now_names_what_is_wrong_with_the_request(api: Api, admin: dict[str, str]) -> None:
    repository_id, job_id = _job(api)
    both = api.client.post(
        "/api/v1/verifications", json={"repository_id": repository_id, "job_id": job_id}, headers=admin
    )
    missing = api.client.post("/api/v1/verifications", json={"job_id": 4242}, headers=admin)
    bad_state = api.client.get("/api/v1/verifications", params={"state": "fine"}, headers=admin)

    assert both.status_code == 422 and "either a repository" in both.json()["error"]["message"]
    assert missing.status_code == 404
    assert bad_state.status_code == 422 and "state" in bad_state.text


def test_schedules_of_scrubs_and_restore_tests_are_set_shown_with_the_next_due_and_audited(
    api: Api, admin: dict[str, str]
) -> None:
    repository_id, job_id = _job(api)
    shown = api.client.get(f"/api/v1/repositories/{repository_id}/verification", headers=admin).json()
    assert shown["schedule"]["kind"] == "weekly" and shown["scrub_period_days"] == 30 and shown["next_due"]

    changed = api.client.patch(
        f"/api/v1/repositories/{repository_id}/verification",
        json={"schedule": {"kind": "daily", "at": "02:00"}, "scrub_period_days": 7},
        headers=admin,
    )
    bad = api.client.patch(
        f"/api/v1/jobs/{job_id}/restore-test",
        json={"schedule": {"kind": "daily", "at": "25:00"}},
        headers=admin,
    )
    sample = api.client.patch(f"/api/v1/jobs/{job_id}/restore-test", json={"sample_files": 50}, headers=admin)

    assert changed.status_code == 200 and changed.json()["schedule"]["kind"] == "daily"
    assert changed.json()["scrub_period_days"] == 7 and changed.json()["schedule_is_default"] is False
    assert bad.status_code == 422 and "schedule.at" in bad.text
    assert sample.json()["sample_files"] == 50 and sample.json()["schedule"]["kind"] == "monthly"
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin).json()["items"]
    actions = {entry["action"] for entry in audit}
    assert {"repository.verification", "job.restore_test"} <= actions


def test_a_restore_test_server_password_is_sealed_and_never_shown(api: Api, admin: dict[str, str]) -> None:
    body = {"url": "postgresql://tester@127.0.0.1:5432/", "password": "scratch-pass-8812"}
    stored = api.client.put("/api/v1/verification-servers/postgresql", json=body, headers=admin)
    in_url = api.client.put(
        "/api/v1/verification-servers/mysql", json={"url": "mysql://root:hunter2@db/"}, headers=admin
    )
    unknown = api.client.put("/api/v1/verification-servers/oracle", json=body, headers=admin)
    other_kind = api.client.put(
        "/api/v1/verification-servers/mysql", json={"url": "mysql://tester@[bad/"}, headers=admin
    )
    assert other_kind.status_code == 422
    listed = api.client.get("/api/v1/verification-servers", headers=admin)
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin)

    assert stored.status_code == 200 and stored.json()["password_set"] is True
    assert in_url.status_code == 422 and "hunter2" not in in_url.text
    assert unknown.status_code == 422
    assert [item["kind"] for item in listed.json()["items"]] == ["postgresql"]
    for text in (stored.text, listed.text, audit.text):
        assert "scratch-pass-8812" not in text


def test_a_restore_test_server_is_removed_and_audited(api: Api, admin: dict[str, str]) -> None:
    body = {"url": "postgresql://tester@127.0.0.1:5432/", "password": "scratch-pass-5521"}
    api.client.put("/api/v1/verification-servers/postgresql", json=body, headers=admin)

    removed = api.client.delete("/api/v1/verification-servers/postgresql", headers=admin)
    again = api.client.delete("/api/v1/verification-servers/postgresql", headers=admin)
    listed = api.client.get("/api/v1/verification-servers", headers=admin)
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin)

    assert removed.status_code == 200 and removed.json()["kind"] == "postgresql"
    assert again.status_code == 404
    assert listed.json()["items"] == []
    assert "verification_server.remove" in {entry["action"] for entry in audit.json()["items"]}
    assert "scratch-pass-5521" not in audit.text + removed.text
