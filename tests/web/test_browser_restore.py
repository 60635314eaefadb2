"""A restore in a real headless Chromium against a real ``resguardo serve`` (its own worker): an operator
opens a run that dumped a PostgreSQL database, restores it under a new name from the run's page, and
watches the restore's page turn to succeeded while htmx polls it; the new database holds the same rows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as expected

from tests.cli.test_serve import ADMIN_PASSWORD, Server, log_in, start_server
from tests.fixtures.postgres import SUPERUSER, PostgresCluster
from tests.sources.conftest import PG_PASSWORD, fill_pg_database, pg_checksums, pg_server
from tests.web.test_browser import USER_PASSWORD, _log_in, _until, browser

__all__ = ["browser", "pg_server"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start ``resguardo serve`` with a temporary data directory and an English-speaking operator."""
    base = tmp_path_factory.mktemp("restore-serve")
    server = start_server(
        base / "data",
        base / "logs",
        RESGUARDO_ADMIN_PASSWORD=ADMIN_PASSWORD,
        RESGUARDO_TEST_KDF="fast",
        RESGUARDO_CACHE_DIR=str(base / "cache"),
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            user = {"username": "rita", "password": USER_PASSWORD, "roles": ["operator"], "language": "en"}
            answer = client.post("/api/v1/users", json=user, headers=log_in(client))
            assert answer.status_code == 201, answer.text
        yield server
    finally:
        if server.process.poll() is None:
            server.terminate()


def _backed_up_run(server: Server, pg_server: PostgresCluster, name: str) -> int:
    """Through the API: a client with the test server, a job dumping ``name``, run now; return the run."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        headers = log_in(client)
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{pg_server.port}/"
        body = {
            "name": "db-host",
            "transport": "local",
            "database_url": url,
            "secrets": {"database_password": PG_PASSWORD},
        }
        client_id = client.post("/api/v1/clients", json=body, headers=headers).json()["id"]
        repository = client.get("/api/v1/repositories", headers=headers).json()["items"][0]
        category = client.get("/api/v1/categories", headers=headers).json()["items"][0]
        job = {
            "name": "sales-db",
            "client_id": client_id,
            "repository_id": repository["id"],
            "category_id": category["id"],
            "source": {"kind": "postgresql", "databases": [name]},
            "max_retries": 0,
        }
        created = client.post("/api/v1/jobs", json=job, headers=headers)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        assert client.post(f"/api/v1/jobs/{job_id}/run", headers=headers).status_code == 202
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = client.get("/api/v1/runs", params={"job_id": job_id}, headers=headers).json()["items"]
            if runs and runs[0]["state"] not in ("queued", "running"):
                assert runs[0]["state"] == "succeeded", runs[0]["error"]
                return int(runs[0]["id"])
            time.sleep(0.5)
    pytest.fail(f"the run did not end:\n{server.stderr()[-3000:]}")


def test_operator_restores_a_database_under_a_new_name_and_watches_it_succeed(
    browser: WebDriver, server: Server, pg_server: PostgresCluster, tmp_path: Path
) -> None:
    name = f"sales_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=200)
    run_id = _backed_up_run(server, pg_server, name)
    _log_in(browser, server, "rita")

    browser.get(f"{server.url}/runs/{run_id}")
    _until(browser, server, expected.element_to_be_clickable((By.ID, "restore"))).click()
    _until(browser, server, expected.element_to_be_clickable((By.ID, "item-0"))).click()
    assert browser.find_element(By.ID, "name-0").get_attribute("value") == f"{name}_restored"
    browser.find_element(By.ID, "field-reason").send_keys("checking last night's dump")
    browser.find_element(By.ID, "restore-start").click()
    _until(
        browser,
        server,
        expected.presence_of_element_located((By.CSS_SELECTOR, "#restore-status[data-state=succeeded]")),
    )

    assert browser.find_element(By.CSS_SELECTOR, "#restore-state .badge").text == "Succeeded"
    assert "checked the data needed" in browser.find_element(By.ID, "restore-log").text
    assert pg_checksums(pg_server, f"{name}_restored") == pg_checksums(pg_server, name)
    browser.get(server.url + "/restores")
    assert name in browser.find_element(By.CSS_SELECTOR, "main table").text
