"""The role matrix over every endpoint, tokens and session cookies, CSRF, login rate limiting, secrets."""

from __future__ import annotations

import json
import re

from resguardo.api.app import api_routes
from resguardo.api.auth import permission_of
from resguardo.api.permissions import PERMISSIONS
from resguardo.catalog.enums import Role
from resguardo.catalog.queries import (
    create_client,
    create_department,
    create_repository,
    enqueue_run,
    find_category,
)
from tests.api.conftest import NOW, PASSWORD, Api

PUBLIC_ROUTES = {("POST", "/api/v1/session")}


def _api_routes(api: Api) -> list[tuple[str, str, str | None]]:
    """Return (method, path, permission) of every /api/v1 route."""
    routes = []
    for route in api_routes():
        if not route.path.startswith("/api/v1"):
            continue
        permissions = [permission_of(dependency.call) for dependency in route.dependant.dependencies]
        permission = next((name for name in permissions if name), None)
        routes.extend((method, route.path, permission) for method in sorted(route.methods))
    return routes


def test_the_walk_over_the_api_finds_every_endpoint_the_application_serves(api: Api) -> None:
    walked = {(method, path) for method, path, _permission in _api_routes(api)}
    served = {
        (method.upper(), path)
        for path, operations in api.client.get("/openapi.json").json()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    assert len(walked) > 40
    assert walked == served
    assert ("POST", "/api/v1/jobs/{job_id}/run") in walked


def test_every_api_route_declares_a_permission_of_the_table(api: Api) -> None:
    for method, path, permission in _api_routes(api):
        if (method, path) in PUBLIC_ROUTES:
            continue
        assert permission in PERMISSIONS, f"{method} {path} declares no permission of the table"


def _objects(api: Api) -> dict[str, int]:
    """Make one object of each kind; return the ID to put in each path parameter."""
    with api.session() as session:
        client = create_client(session, name="matrix-host", address="h.example", now=NOW)
        repository = create_repository(session, api.secret_key, name="matrix-repo", url="/srv/m", now=NOW)
        from resguardo.catalog.queries import create_job

        job = create_job(
            session,
            name="matrix-job",
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            now=NOW,
        )
        run = enqueue_run(session, job.id, trigger="manual", now=NOW)  # type: ignore[arg-type]
        category_id = find_category(session, "images").id
        department = create_department(session, name="matrix-area", now=NOW)
        session.commit()
    return {
        "client_id": client.id,
        "repository_id": repository.id,
        "job_id": job.id,
        "run_id": run.id,
        "category_id": category_id,
        "department_id": department.id,
        "failure_id": 999_999,
        "user_id": 999_999,
        "token_id": 999_999,
        "restore_id": 999_999,
        "verification_id": 999_999,
        "kind": "postgresql",
        "notification_id": 999_999,
    }


def test_each_role_may_call_exactly_the_endpoints_the_table_gives_it(api: Api) -> None:
    identifiers = _objects(api)
    tokens = {role: api.user(f"user-{role.value}", [role])[1] for role in Role}
    for method, path, permission in _api_routes(api):
        if permission is None:
            continue
        url = re.sub(r"\{(\w+)\}", lambda match: str(identifiers[match.group(1)]), path)
        for role, token in tokens.items():
            # An empty body: a caller allowed in gets past the permission check (then 2xx, 404, 409 or 422).
            response = api.client.request(method, url, json={}, headers=api.headers(token))
            if role in PERMISSIONS[permission]:
                assert response.status_code not in (401, 403), (
                    f"{role} refused {method} {url}: {response.text}"
                )
            else:
                assert response.status_code == 403, f"{role} allowed {method} {url}: {response.status_code}"
                assert response.json()["error"]["code"] == "forbidden"


def test_a_user_without_roles_is_refused_and_no_credentials_is_401(api: Api) -> None:
    _user_id, token = api.user("nobody", [])
    assert api.client.get("/api/v1/session", headers=api.headers(token)).status_code == 403
    response = api.client.get("/api/v1/clients")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    assert api.client.get("/api/v1/clients", headers=api.headers("rsg_forged")).status_code == 401


def _login(api: Api, username: str, password: str = PASSWORD) -> str:
    response = api.client.post("/api/v1/session", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def test_cookie_session_requires_the_csrf_token_on_changes(api: Api) -> None:
    api.user("oper", [Role.OPERATOR], password=PASSWORD)
    csrf = _login(api, "oper")
    assert api.client.get("/api/v1/session").json()["method"] == "session"
    body = {"name": "csrf-host", "address": "c.example"}
    refused = api.client.post("/api/v1/clients", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]["message"]
    assert api.client.post("/api/v1/clients", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert api.client.post("/api/v1/clients", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert api.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    api.client.cookies.clear()
    assert api.client.get("/api/v1/session").status_code == 401


def test_session_cookie_is_httponly_and_samesite_lax(api: Api) -> None:
    api.user("oper", [Role.OPERATOR], password=PASSWORD)
    response = api.client.post("/api/v1/session", json={"username": "oper", "password": PASSWORD})
    cookie = next(
        value for value in response.headers.get_list("set-cookie") if value.startswith("resguardo_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie


def test_session_ends_when_it_expires(api: Api) -> None:
    api.user("oper", [Role.OPERATOR], password=PASSWORD)
    _login(api, "oper")
    api.clock.advance(13 * 3600)
    assert api.client.get("/api/v1/session").status_code == 401


def test_sixth_failed_login_within_a_minute_is_refused_with_429(api: Api) -> None:
    api.user("oper", [Role.OPERATOR], password=PASSWORD)
    wrong = {"username": "oper", "password": "not the password"}
    assert [api.client.post("/api/v1/session", json=wrong).status_code for _ in range(5)] == [401] * 5
    limited = api.client.post("/api/v1/session", json={"username": "oper", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    api.clock.advance(61)
    assert (
        api.client.post("/api/v1/session", json={"username": "oper", "password": PASSWORD}).status_code == 200
    )


def test_secrets_never_appear_in_responses_or_in_the_audit_log(api: Api, admin: dict[str, str]) -> None:
    passphrase, key_secret = "tell-no-one-passphrase-8731", "s3-secret-key-value-5512"
    password = "user password never shown 42"
    seen = []
    body = {"name": "vault", "url": "s3://bucket/x", "secrets": {"passphrase": passphrase}}
    created = api.client.post("/api/v1/repositories", json=body, headers=admin)
    seen.append(created.text)
    path = f"/api/v1/repositories/{created.json()['id']}"
    seen.append(
        api.client.patch(path, json={"secrets": {"s3_secret_access_key": key_secret}}, headers=admin).text
    )
    seen.append(api.client.get(path, headers=admin).text)
    seen.append(api.client.get("/api/v1/repositories", headers=admin).text)
    user = api.client.post("/api/v1/users", json={"username": "eva", "password": password}, headers=admin)
    seen.append(user.text)
    seen.append(
        api.client.post("/api/v1/users", json={"username": "x", "password": "short"}, headers=admin).text
    )
    seen.append(api.client.post("/api/v1/session", json={"username": "eva", "password": password}).text)
    token = api.client.post("/api/v1/tokens", json={"name": "t"}, headers=admin).json()["token"]
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin)
    assert audit.json()["total"] >= 5
    seen.append(audit.text)
    everything = "\n".join(seen)
    for secret in (passphrase, key_secret, password, "short"):
        assert secret not in everything
    assert token not in audit.text
    assert json.loads(created.text)["has_passphrase"] is True


def test_openapi_lists_every_route(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    for method, path, _permission in _api_routes(api):
        assert method.lower() in document["paths"][path], f"{method} {path} missing from the OpenAPI document"
    assert "/healthz" in document["paths"] and "/metrics" in document["paths"]
