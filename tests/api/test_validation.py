"""Bad input gets 422 (or 404/409) in the one error shape, with the field named, and never a 5xx."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from tests.api.conftest import Api

GARBAGE = [
    None,
    [],
    "text",
    12,
    3.5,
    True,
    {"unexpected": 1},
    {"name": None},
    {"name": 12},
    {"name": "x" * 5000},
    {"name": "nul\x00byte"},
    {"name": "ok", "port": "many"},
    {"name": "ok", "port": 10**30},
    {"name": "ok", "client_id": -1},
    {"name": "ok", "client_id": 10**20, "repository_id": 1, "category_id": 1},
    {"name": "ok", "schedule": {"kind": "interval", "every": 0, "unit": "days"}},
    {"name": "ok", "schedule": {"kind": "interval", "every_days": 60}},
    {"name": "ok", "schedule": "daily"},
    {"url": "ftp://nowhere", "name": "r"},
    {"secrets": {"not_a_secret": "v"}, "name": "r", "url": "/srv/r"},
    {"roles": ["emperor"], "username": "u", "password": "long enough password"},
    {"username": "u", "password": 5},
    {"expires_at": "yesterday", "name": "t"},
    {"cause": ["a"]},
    {"default_schedule": {"kind": "monthly", "days": [32], "at": "01:00"}},
]


def _write_routes(api: Api) -> list[tuple[str, str]]:
    routes = []
    for route in api.client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1"):
            routes.extend(
                (method, route.path) for method in route.methods if method in ("POST", "PATCH", "PUT")
            )
    return sorted(routes)


def test_garbage_posted_to_every_write_endpoint_never_gets_a_server_error(
    api: Api, admin: dict[str, str]
) -> None:
    for method, path in _write_routes(api):
        url = re.sub(r"\{\w+\}", "1", path)
        for body in GARBAGE:
            response = api.client.request(method, url, json=body, headers=admin)
            assert response.status_code < 500, (
                f"{method} {url} {body!r}: {response.status_code} {response.text}"
            )
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"code", "message", "details"}
        broken = api.client.request(
            method, url, content=b"{not json", headers={**admin, "Content-Type": "application/json"}
        )
        assert broken.status_code == 422


def _problem_fields(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    return [problem["field"] for problem in details.get("errors", [])] or [details.get("field")]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/clients", {"name": "a", "colour": "blue"}, "colour"),
        ("/api/v1/clients", {"name": "a", "port": "twenty"}, "port"),
        ("/api/v1/clients", {"name": "a" * 121}, "name"),
        ("/api/v1/clients", {"name": "a", "port": 70000}, "port"),
        ("/api/v1/clients", {"name": "a", "transport": "ssh"}, "address"),
        ("/api/v1/repositories", {"name": "r", "url": "ftp://x"}, "url"),
        ("/api/v1/repositories", {"name": "r", "url": "/x", "max_concurrent_runs": 0}, "max_concurrent_runs"),
        (
            "/api/v1/repositories",
            {"name": "r", "url": "/x", "max_concurrent_runs": 65},
            "max_concurrent_runs",
        ),
        (
            "/api/v1/repositories",
            {"name": "r", "url": "/x", "max_concurrent_runs": "2"},
            "max_concurrent_runs",
        ),
        ("/api/v1/users", {"username": "u", "password": "short"}, "password"),
        ("/api/v1/tokens", {"name": ""}, "name"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api: Api, admin: dict[str, str], path: str, body: dict, field: str
) -> None:
    assert field in _problem_fields(api.client.post(path, json=body, headers=admin))


ZERO_WINDOW = {"start": "22:00", "end": "22:00"}


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"kind": "interval", "every": 0, "unit": "days", "at": "02:00"}, "schedule.every"),
        ({"kind": "daily", "at": "25:00"}, "schedule.at"),
        ({"kind": "weekly", "weekdays": ["funday"], "at": "03:00"}, "schedule.weekdays"),
        ({"kind": "monthly", "days": [1, 32], "at": "01:00"}, "schedule.days"),
        ({"kind": "daily", "at": "01:00", "timezone": "Mars/Base"}, "schedule.timezone"),
        (
            {"kind": "daily", "at": "01:00", "window": {"start": "22:00", "end": "22:00"}},
            "schedule.window.end",
        ),
        ({"kind": "daily", "at": "01:00", "colour": "blue"}, "schedule.colour"),
        ({"kind": "interval", "every_days": 60, "at": "02:00"}, "schedule.every_days"),
        ("daily", "schedule"),
    ],
)
def test_an_impossible_schedule_is_422_naming_its_field(
    api: Api, admin: dict[str, str], schedule: object, field: str
) -> None:
    body = {"name": "j", "client_id": 1, "repository_id": 1, "category_id": 1, "schedule": schedule}
    response = api.client.post("/api/v1/jobs", json=body, headers=admin)
    assert _problem_fields(response) == [field]
    message = response.json()["error"]["details"]["errors"][0]["message"]
    assert "Traceback" not in message and len(message) < 300


def test_a_category_default_schedule_is_checked_as_well(api: Api, admin: dict[str, str]) -> None:
    body = {
        "name": "mail",
        "title_es": "Correo",
        "title_en": "Mail",
        "default_schedule": {"kind": "monthly", "days": ["first"], "at": "01:00"},
        "default_retention": {"keep_last": 4},
    }
    response = api.client.post("/api/v1/categories", json=body, headers=admin)
    assert _problem_fields(response) == ["default_schedule.days"]


def test_missing_records_answer_404_and_taken_names_409(api: Api, admin: dict[str, str]) -> None:
    missing = api.client.get("/api/v1/clients/4242", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    api.client.post("/api/v1/clients", json={"name": "twin", "address": "a"}, headers=admin)
    taken = api.client.post("/api/v1/clients", json={"name": "twin", "address": "b"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"


def test_page_size_out_of_range_is_422(api: Api, admin: dict[str, str]) -> None:
    assert _problem_fields(api.client.get("/api/v1/clients", params={"limit": 501}, headers=admin)) == [
        "limit"
    ]
    assert _problem_fields(api.client.get("/api/v1/clients", params={"offset": -1}, headers=admin)) == [
        "offset"
    ]


def test_a_repository_limit_of_runs_out_of_range_is_422_on_patch_and_changes_nothing(
    api: Api, admin: dict[str, str]
) -> None:
    created = api.client.post("/api/v1/repositories", json={"name": "r", "url": "/x"}, headers=admin)
    path = f"/api/v1/repositories/{created.json()['id']}"
    for wrong in (0, 65, -3, 2.5, True):
        response = api.client.patch(path, json={"max_concurrent_runs": wrong}, headers=admin)
        assert _problem_fields(response) == ["max_concurrent_runs"], wrong
    assert api.client.get(path, headers=admin).json()["max_concurrent_runs"] == 2


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"kind": "ftp"}, "source.kind"),
        ({"kind": "paths", "paths": []}, "source.paths"),
        ({"kind": "postgresql", "databases": ["sales"]}, "source.url"),
        ({"kind": "postgresql", "url": "postgresql://u@db1/", "via": "carrier-pigeon"}, "source.via"),
        ({"kind": "mysql", "url": "mysql://u@db1/", "via": "ssh"}, "source.via"),
    ],
)
def test_a_job_source_that_does_not_fit_is_422_naming_its_field_on_create_and_edit(
    api: Api, admin: dict[str, str], source: dict, field: str
) -> None:
    client = api.client.post(
        "/api/v1/clients", json={"name": "here", "transport": "local"}, headers=admin
    ).json()
    repository = api.client.post(
        "/api/v1/repositories", json={"name": "r", "url": "/x"}, headers=admin
    ).json()
    body = {"name": "j", "client_id": client["id"], "repository_id": repository["id"], "category_id": 1}
    refused = api.client.post("/api/v1/jobs", json={**body, "source": source}, headers=admin)
    assert _problem_fields(refused) == [field]
    created = api.client.post(
        "/api/v1/jobs", json={**body, "source": {"kind": "paths", "paths": ["/etc"]}}, headers=admin
    )
    assert created.status_code == 201, created.text
    edited = api.client.patch(f"/api/v1/jobs/{created.json()['id']}", json={"source": source}, headers=admin)
    assert _problem_fields(edited) == [field]
