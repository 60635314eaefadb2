"""Restoring from the copy in a real headless Chromium against a real ``resguardo serve`` (its own
worker): a tree backed up into one repository and copied into a second one; the first is damaged; the
operator's restore fails untouched, its page offers the copy, and the button restores from it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as expected

from resguardo.catalog import create_catalog_engine, load_secret_key, session_factory
from resguardo.catalog.database import database_url
from tests.cli.test_serve import ADMIN_PASSWORD, Server, log_in, start_server
from tests.fixtures.restores import content_packs, copy_repository, damage_packs
from tests.fixtures.service import Service, make_tree
from tests.web.test_browser import USER_PASSWORD, _log_in, _until, browser

__all__ = ["browser"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """Start ``resguardo serve`` with an English-speaking operator; return it and its data directory."""
    base = tmp_path_factory.mktemp("copy-serve")
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
        yield server, base / "data"
    finally:
        if server.process.poll() is None:
            server.terminate()


def _run_by_the_server(server: Server, job_id: int) -> int:
    """Ask the server for a run of the job now and wait for its worker to end it; return the run."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        headers = log_in(client)
        assert client.post(f"/api/v1/jobs/{job_id}/run", headers=headers).status_code == 202
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = client.get("/api/v1/runs", params={"job_id": job_id}, headers=headers).json()["items"]
            if runs and runs[0]["state"] not in ("queued", "running"):
                assert runs[0]["state"] == "succeeded", runs[0]["error"]
                return int(runs[0]["id"])
            time.sleep(0.5)
    pytest.fail(f"the run did not end:\n{server.stderr()[-3000:]}")


def test_operator_restores_from_the_copy_after_the_first_repository_is_found_damaged(
    browser: WebDriver, served: tuple[Server, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, data_dir = served
    monkeypatch.delenv("RESGUARDO_DATABASE_URL", raising=False)  # the server's own catalog, as it runs
    engine = create_catalog_engine(database_url(None, data_dir))
    service = Service(session_factory(engine), load_secret_key(data_dir), tmp_path)
    tree = make_tree(tmp_path / "tree")
    first, second = service.repository("first"), service.repository("offsite")
    run_id = _run_by_the_server(server, service.job("files", [tree], repository_id=first, max_retries=0))
    copy_repository(service, first, second)
    damage_packs(tmp_path / "repo-first", content_packs(service, first))
    engine.dispose()
    folder = tmp_path / "restored"
    _log_in(browser, server, "rita")

    browser.get(f"{server.url}/runs/{run_id}/restore")
    _until(browser, server, expected.element_to_be_clickable((By.CSS_SELECTOR, "input[name=items]"))).click()
    browser.find_element(By.ID, "field-folder").send_keys(str(folder))
    browser.find_element(By.ID, "restore-start").click()
    failed = (By.CSS_SELECTOR, "#restore-status[data-state=failed]")
    _until(browser, server, expected.presence_of_element_located(failed))
    assert not folder.exists()
    assert "'offsite'" in browser.find_element(By.ID, "restore-error").text
    button = browser.find_element(By.ID, "restore-from-copy")
    assert button.text == "Restore from the copy in offsite"
    button.click()
    succeeded = (By.CSS_SELECTOR, "#restore-status[data-state=succeeded]")
    _until(browser, server, expected.presence_of_element_located(succeeded))

    assert (folder / tree.relative_to("/") / "sub" / "b.bin").read_bytes() == (
        tree / "sub" / "b.bin"
    ).read_bytes()
    assert "checked the data needed" in browser.find_element(By.ID, "restore-log").text
