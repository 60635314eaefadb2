"""The verification of runs through the API: each run's verdict, the filter, and the thresholds."""

from __future__ import annotations

from datetime import timedelta

from resguardo.catalog.enums import RunState, Verification
from resguardo.catalog.queries import claim_next_run, finish_run, verification_events
from tests.api.conftest import NOW, Api
from tests.api.test_resources import _category_id, _job, _queued_run

REASON = {
    "code": "files_changed",
    "message": "the backup has 75% fewer files than the last one (40 → 10)",
    "figures": {"before": 40, "after": 10, "threshold_percent": 30},
}


def _finished_run(api: Api, admin: dict[str, str], job_id: int, verification: Verification) -> int:
    run_id = _queued_run(api, admin, job_id)
    with api.session() as session:
        run = claim_next_run(session, "worker-1", NOW + timedelta(seconds=1))
        assert run is not None and run.id == run_id
        finish_run(
            session,
            run.id,
            "worker-1",
            RunState.SUCCEEDED,
            NOW + timedelta(minutes=1),
            verification=verification,
            verification_reasons=[REASON] if verification is Verification.WARNINGS else [],
            verification_figures={"bytes": 10, "files": 10, "streams": {}},
        )
        session.commit()
    return run_id


def test_runs_show_their_verdict_and_are_filtered_by_it(api: Api, admin: dict[str, str]) -> None:
    job = _job(api, admin)
    verified = _finished_run(api, admin, job["id"], Verification.VERIFIED)
    warned = _finished_run(api, admin, job["id"], Verification.WARNINGS)

    listed = api.client.get("/api/v1/runs", params={"verification": "warnings"}, headers=admin).json()
    shown = api.client.get(f"/api/v1/runs/{warned}", headers=admin).json()
    bad = api.client.get("/api/v1/runs", params={"verification": "maybe"}, headers=admin)

    assert [item["id"] for item in listed["items"]] == [warned]
    assert listed["items"][0]["verification_reasons"] == [REASON]
    assert shown["verification"] == "warnings" and shown["verification_figures"]["files"] == 10
    ok = api.client.get(f"/api/v1/runs/{verified}", headers=admin).json()
    assert (ok["verification"], ok["verification_reasons"]) == ("verified", [])
    assert bad.status_code == 422 and bad.json()["error"]["details"]["errors"][0]["field"] == "verification"
    with api.session() as session:
        assert [run.id for run in verification_events(session, NOW)] == [warned]


def test_a_categorys_thresholds_are_seeded_and_edited_and_bad_ones_name_their_field(
    api: Api, admin: dict[str, str]
) -> None:
    path = f"/api/v1/categories/{_category_id(api, admin, 'images')}"
    seeded = api.client.get(path, headers=admin).json()
    changed = api.client.patch(
        path, json={"size_change_percent": 80, "unchanged_dump_days": 0}, headers=admin
    )
    too_big = api.client.patch(path, json={"file_count_change_percent": 5000}, headers=admin)

    assert (
        seeded["size_change_percent"],
        seeded["file_count_change_percent"],
        seeded["unchanged_dump_days"],
    ) == (
        50,
        50,
        3,
    )
    assert changed.status_code == 200
    assert (changed.json()["size_change_percent"], changed.json()["unchanged_dump_days"]) == (80, 0)
    assert too_big.status_code == 422
    assert too_big.json()["error"]["details"]["errors"][0]["field"] == "file_count_change_percent"


def test_a_job_overrides_thresholds_and_null_gives_back_the_categorys(
    api: Api, admin: dict[str, str]
) -> None:
    job = _job(api, admin)
    path = f"/api/v1/jobs/{job['id']}"
    assert job["size_change_percent"] is None

    overridden = api.client.patch(
        path, json={"size_change_percent": 10, "unchanged_dump_days": 7}, headers=admin
    )
    cleared = api.client.patch(path, json={"size_change_percent": None}, headers=admin)
    negative = api.client.patch(path, json={"unchanged_dump_days": -1}, headers=admin)
    zero = api.client.patch(path, json={"size_change_percent": 0}, headers=admin)

    assert (overridden.json()["size_change_percent"], overridden.json()["unchanged_dump_days"]) == (10, 7)
    assert (cleared.json()["size_change_percent"], cleared.json()["unchanged_dump_days"]) == (None, 7)
    for response, field in ((negative, "unchanged_dump_days"), (zero, "size_change_percent")):
        assert response.status_code == 422
        assert response.json()["error"]["details"]["errors"][0]["field"] == field
    audit = api.client.get("/api/v1/audit", params={"action": "job.update"}, headers=admin).json()["items"]
    assert any(entry["after"].get("unchanged_dump_days") == 7 for entry in audit)
