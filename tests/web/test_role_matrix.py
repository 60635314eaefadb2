"""Every console page and form checks the same permission as the matching API endpoint, and each
role reaches exactly the pages and forms the permission table gives it."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute

from resguardo.api.auth import permission_of as api_permission_of
from resguardo.api.permissions import PERMISSIONS
from resguardo.catalog.enums import RestoreKind, Role, RunState, RunTrigger, VerificationKind
from resguardo.catalog.models import FailureEntry
from resguardo.catalog.queries import (
    VerificationRequest,
    create_client,
    create_job,
    create_repository,
    enqueue_restore,
    enqueue_run,
    find_category,
    list_audit,
    queue_verification,
)
from resguardo.web.pages import permission_of
from tests.api.conftest import NOW
from tests.web.conftest import Console, csrf_of

UNCHECKED = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/metrics")}
# Console form -> the API endpoint that does the same (their permissions must be equal).
SAME_AS_API = {
    ("GET", "/clients"): ("GET", "/api/v1/clients"),
    ("POST", "/clients/new"): ("POST", "/api/v1/clients"),
    ("POST", "/clients/{client_id}/edit"): ("PATCH", "/api/v1/clients/{client_id}"),
    ("POST", "/clients/{client_id}/delete"): ("DELETE", "/api/v1/clients/{client_id}"),
    ("GET", "/repositories"): ("GET", "/api/v1/repositories"),
    ("POST", "/repositories/new"): ("POST", "/api/v1/repositories"),
    ("POST", "/repositories/{repository_id}/edit"): ("PATCH", "/api/v1/repositories/{repository_id}"),
    ("GET", "/jobs"): ("GET", "/api/v1/jobs"),
    ("GET", "/jobs/{job_id}"): ("GET", "/api/v1/jobs/{job_id}"),
    ("POST", "/jobs/new"): ("POST", "/api/v1/jobs"),
    ("POST", "/jobs/{job_id}/edit"): ("PATCH", "/api/v1/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/pause"): ("PATCH", "/api/v1/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/resume"): ("PATCH", "/api/v1/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/run"): ("POST", "/api/v1/jobs/{job_id}/run"),
    ("GET", "/runs"): ("GET", "/api/v1/runs"),
    ("GET", "/runs/{run_id}"): ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/restores"): ("GET", "/api/v1/restores"),
    ("GET", "/restores/{restore_id}"): ("GET", "/api/v1/restores/{restore_id}"),
    ("POST", "/runs/{run_id}/restore"): ("POST", "/api/v1/restores"),
    ("POST", "/restores/{restore_id}/cancel"): ("POST", "/api/v1/restores/{restore_id}/cancel"),
    ("POST", "/restores/{restore_id}/retry"): ("POST", "/api/v1/restores/{restore_id}/retry"),
    ("GET", "/failures"): ("GET", "/api/v1/failures"),
    ("POST", "/failures/{failure_id}"): ("PATCH", "/api/v1/failures/{failure_id}"),
    ("GET", "/users"): ("GET", "/api/v1/users"),
    ("POST", "/users/new"): ("POST", "/api/v1/users"),
    ("POST", "/users/{user_id}/edit"): ("PATCH", "/api/v1/users/{user_id}"),
    ("GET", "/audit"): ("GET", "/api/v1/audit"),
    ("GET", "/verifications"): ("GET", "/api/v1/verifications"),
    ("GET", "/verifications/{verification_id}"): ("GET", "/api/v1/verifications/{verification_id}"),
    ("POST", "/verifications/new"): ("POST", "/api/v1/verifications"),
    ("GET", "/notifications"): ("GET", "/api/v1/notifications"),
    ("POST", "/notifications/settings"): ("PUT", "/api/v1/settings/smtp"),
    ("POST", "/notifications/test"): ("POST", "/api/v1/settings/smtp/test"),
    ("POST", "/notifications/{notification_id}/retry"): (
        "POST",
        "/api/v1/notifications/{notification_id}/retry",
    ),
    ("POST", "/repositories/{repository_id}/verification"): (
        "PATCH",
        "/api/v1/repositories/{repository_id}/verification",
    ),
    ("POST", "/jobs/{job_id}/verification"): ("PATCH", "/api/v1/jobs/{job_id}/restore-test"),
    ("POST", "/verification-servers/{kind}"): ("PUT", "/api/v1/verification-servers/{kind}"),
    ("POST", "/verification-servers/{kind}/remove"): ("DELETE", "/api/v1/verification-servers/{kind}"),
    ("POST", "/logout"): ("DELETE", "/api/v1/session"),
}


def _flat(routes: list[Any]) -> list[APIRoute]:
    """Return the endpoints of ``routes``, looking into included routers (kept unexpanded by FastAPI)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router (no prefix added by the include)
            found.extend(_flat(route.original_router.routes))
    return found


def _routes(console: Console, *, api: bool) -> dict[tuple[str, str], str | None]:
    """Return {(method, path): permission} of the console's routes (or of the API's)."""
    found: dict[tuple[str, str], str | None] = {}
    for route in _flat(console.app.routes):  # type: ignore[attr-defined]
        if route.path.startswith("/api/") != api:
            continue
        reader = api_permission_of if api else permission_of
        names = [reader(dependency.call) for dependency in route.dependant.dependencies]
        for method in route.methods:
            found[(method, route.path)] = next((name for name in names if name), None)
    return found


def test_every_console_route_declares_a_permission_of_the_table(console: Console) -> None:
    routes = _routes(console, api=False)
    assert len(routes) > 30 and ("GET", "/jobs/{job_id}") in routes
    for key, permission in routes.items():
        if key in UNCHECKED:
            continue
        assert permission in PERMISSIONS, f"{key} declares no permission of the table"


def test_each_console_form_checks_the_permission_of_its_api_endpoint(console: Console) -> None:
    pages, endpoints = _routes(console, api=False), _routes(console, api=True)
    for page_key, endpoint_key in SAME_AS_API.items():
        assert pages[page_key] == endpoints[endpoint_key], (page_key, endpoint_key)
    assert (
        pages[("GET", "/")] == "session.show" and endpoints[("GET", "/api/v1/dashboard")] == "dashboard.read"
    )


def _objects(console: Console) -> dict[str, Any]:
    """Make one record of each kind; return the ID to put in each path parameter."""
    with console.sessions() as session:
        client = create_client(session, name="matrix-host", address="h.example", now=NOW)
        repository = create_repository(session, console.secret_key, name="matrix-repo", url="/srv/m", now=NOW)
        job = create_job(
            session,
            name="matrix-job",
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            now=NOW,
        )
        run = enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
        session.flush()
        failure = FailureEntry(job_id=job.id, run_id=run.id, opened_at=NOW, error="disk full")
        session.add(failure)
        saved = enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
        saved.state, saved.snapshot_id = RunState.SUCCEEDED, "ab" * 32
        restore = enqueue_restore(
            session,
            saved,
            repository_id=repository.id,
            kind=RestoreKind.DATABASE,
            items=["sales"],
            target={"client_id": client.id, "databases": {"sales": "sales_restored"}},
            overwrite=False,
            now=NOW,
        )
        request = VerificationRequest(VerificationKind.SCRUB, repository.id)
        verification = queue_verification(session, request, NOW)
        assert verification is not None
        session.commit()
        ids = {
            "client_id": client.id,
            "repository_id": repository.id,
            "job_id": job.id,
            "run_id": run.id,
            "failure_id": failure.id,
            "restore_id": restore.id,
            "verification_id": verification.id,
            "notification_id": 999_999,
        }
    ids["user_id"] = console.user("matrix-target", [Role.REQUESTER])
    return {**ids, "kind": "postgresql"}


def _fill(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: str(ids[match.group(1)]), path)


def _role_may(role: Role, permission: str | None) -> bool:
    return permission is not None and role in PERMISSIONS[permission]


def test_each_role_reaches_exactly_the_pages_and_forms_the_table_gives_it(console: Console) -> None:
    ids = _objects(console)
    routes = {key: value for key, value in _routes(console, api=False).items() if key not in UNCHECKED}
    refused: dict[Role, list[tuple[str, str]]] = {}
    for role in Role:
        console.user(f"as-{role.value}", [role])
        browser = console.browser(f"as-{role.value}")
        csrf = csrf_of(browser.get("/").text)
        refused[role] = []
        gets = sorted(key for key in routes if key[0] == "GET")
        posts = sorted(key for key in routes if key[0] == "POST" and key[1] != "/logout")
        for method, path in [*gets, *posts]:
            data: dict[str, Any] = {"csrf_token": csrf} if method == "POST" else {}
            answer = browser.request(method, _fill(path, ids), data=data or None)
            if _role_may(role, routes[(method, path)]):
                assert answer.status_code not in (403, 500), (role, method, path, answer.text[:300])
                if method == "GET":
                    assert answer.status_code == 200, (role, method, path, answer.text[:300])
            else:
                assert answer.status_code == 403, (role, method, path, answer.status_code)
                refused[role].append((method, path))
    auditor_posts = {key for key in routes if key[0] == "POST" and key[1] not in ("/logout", "/language")}
    assert auditor_posts <= set(refused[Role.AUDITOR])
    assert ("GET", "/users") in refused[Role.REQUESTER]
    assert ("POST", "/jobs/{job_id}/run") not in refused[Role.OPERATOR]
    assert not {key for key in routes if "/users" in key[1]} & set(refused[Role.ADMINISTRATOR])


def test_operator_runs_a_job_and_administrator_adds_a_user_both_audited(console: Console) -> None:
    ids = _objects(console)
    console.user("olga", [Role.OPERATOR])
    console.user("adam", [Role.ADMINISTRATOR])
    operator, administrator = console.browser("olga"), console.browser("adam")

    ran = operator.post(f"/jobs/{ids['job_id']}/run", data={"csrf_token": csrf_of(operator.get("/").text)})
    added = administrator.post(
        "/users/new",
        data={
            "csrf_token": csrf_of(administrator.get("/").text),
            "username": "newcomer",
            "password": "twelve chars or more",
            "roles": ["auditor", "custodian"],
            "language": "en",
        },
    )

    assert ran.status_code == 303 and added.status_code == 303, added.text
    with console.sessions() as session:
        actions = {(entry.action, entry.actor_name) for entry in list_audit(session, limit=100).items}
    assert ("job.run_now", "olga") in actions and ("user.create", "adam") in actions
    assert "newcomer" in administrator.get("/users").text
