"""The console in a real headless Chromium against a real ``resguardo serve`` (uvicorn, scheduler and
worker) on a loopback port: a Spanish and an English user each log in, create a job, run it now, and
watch its run's page turn to succeeded while htmx polls it.

One server and one browser for the module; explicit waits only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as expected
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.cli.test_serve import ADMIN_PASSWORD, Server, log_in, start_server
from tests.fixtures.service import make_tree

pytestmark = pytest.mark.slow

USER_PASSWORD = "a long password for the console test"
WAIT_SECONDS = 30
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start ``resguardo serve`` with a temporary data directory; add two users and a local client."""
    base = tmp_path_factory.mktemp("console-serve")
    server = start_server(
        base / "data",
        base / "logs",
        RESGUARDO_ADMIN_PASSWORD=ADMIN_PASSWORD,
        RESGUARDO_TEST_KDF="fast",
        RESGUARDO_CACHE_DIR=str(base / "cache"),
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            headers = log_in(client)
            for username, language in (("ana", "es"), ("oliver", "en")):
                answer = client.post(
                    "/api/v1/users",
                    json={
                        "username": username,
                        "password": USER_PASSWORD,
                        "roles": ["operator"],
                        "language": language,
                    },
                    headers=headers,
                )
                assert answer.status_code == 201, answer.text
            client_answer = client.post(
                "/api/v1/clients", json={"name": "this-host", "transport": "local"}, headers=headers
            )
            assert client_answer.status_code == 201, client_answer.text
        yield server
    finally:
        if server.process.poll() is None:
            server.terminate()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Return one headless Chromium for the module, with a fresh profile and no network look-ups."""
    os.environ["SE_OFFLINE"] = "true"  # never let the driver manager look for drivers on the network
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _until(browser: WebDriver, server: Server, condition: Any) -> Any:
    """Wait for ``condition``; on a timeout, fail with the page shown and the end of the server's log."""
    try:
        return WebDriverWait(browser, WAIT_SECONDS).until(condition)
    except TimeoutException:
        page = browser.find_element(By.TAG_NAME, "body").text
        pytest.fail(
            f"timed out at {browser.current_url}:\n{page}\n--- server log:\n{server.stderr()[-3000:]}"
        )


def _log_in(browser: WebDriver, server: Server, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(server.url + "/login")
    browser.find_element(By.ID, "field-username").send_keys(username)
    browser.find_element(By.ID, "field-password").send_keys(USER_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _until(browser, server, expected.presence_of_element_located((By.CSS_SELECTOR, ".user-menu")))


def _create_job_and_run_it(browser: WebDriver, server: Server, name: str, tree: Path) -> None:
    """Fill the job form, save, press run now, open the run and wait for it to succeed."""
    browser.get(server.url + "/jobs/new")
    browser.find_element(By.ID, "field-name").send_keys(name)
    Select(browser.find_element(By.ID, "field-client_id")).select_by_visible_text("this-host")
    Select(browser.find_element(By.ID, "field-repository_id")).select_by_visible_text("local")
    Select(browser.find_element(By.ID, "field-category_id")).select_by_index(1)
    browser.find_element(By.ID, "field-paths").send_keys(str(tree))
    browser.find_element(By.ID, "field-schedule").send_keys("every 60 days at 02:00")
    browser.find_element(By.ID, "save-job").click()
    _until(browser, server, expected.element_to_be_clickable((By.ID, "run-now"))).click()
    _until(
        browser, server, expected.element_to_be_clickable((By.CSS_SELECTOR, "#job-runs a.run-link"))
    ).click()
    _until(
        browser,
        server,
        expected.presence_of_element_located((By.CSS_SELECTOR, "#run-status[data-state=succeeded]")),
    )


def test_spanish_user_creates_a_job_runs_it_and_sees_it_succeed(
    browser: WebDriver, server: Server, tmp_path: Path
) -> None:
    _log_in(browser, server, "ana")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Panel"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"

    _create_job_and_run_it(browser, server, "documentos-ana", make_tree(tmp_path / "tree"))

    assert browser.find_element(By.CSS_SELECTOR, "#run-state .badge").text == "Exitosa"
    assert browser.find_element(By.CSS_SELECTOR, "#run-verification .badge").text == "Verificado"
    assert "Bitácora" in browser.find_element(By.TAG_NAME, "main").text
    browser.get(server.url + "/jobs")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Tareas"
    assert "cada 60 días a las 02:00" in browser.find_element(By.TAG_NAME, "table").text


def test_english_user_creates_a_job_runs_it_and_sees_it_succeed(
    browser: WebDriver, server: Server, tmp_path: Path
) -> None:
    _log_in(browser, server, "oliver")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dashboard"

    _create_job_and_run_it(browser, server, "documents-oliver", make_tree(tmp_path / "tree"))

    assert browser.find_element(By.CSS_SELECTOR, "#run-state .badge").text == "Succeeded"
    browser.get(server.url + "/")
    rows = browser.find_element(By.CSS_SELECTOR, "main table").text
    assert "documents-oliver" in rows and "Succeeded" in rows
    assert browser.find_elements(By.CSS_SELECTOR, ".chart svg rect.bar-succeeded")
    browser.get(server.url + "/jobs")
    assert "every 60 days at 02:00" in browser.find_element(By.TAG_NAME, "table").text


def test_a_second_backup_after_most_files_went_away_shows_a_verification_warning_badge(
    browser: WebDriver, server: Server, tmp_path: Path
) -> None:
    tree = tmp_path / "shrinking"
    tree.mkdir()
    for number in range(20):
        (tree / f"file-{number:02}.txt").write_text(f"line {number}\n" * 500)
    _log_in(browser, server, "oliver")
    _create_job_and_run_it(browser, server, "shrinking-oliver", tree)
    assert browser.find_element(By.CSS_SELECTOR, "#run-verification .badge").text == "Verified"
    job_link = browser.find_element(By.CSS_SELECTOR, "h1 a").get_attribute("href")
    for path in sorted(tree.iterdir())[:16]:
        path.unlink()

    browser.get(str(job_link))
    _until(browser, server, expected.element_to_be_clickable((By.ID, "run-now"))).click()
    _until(
        browser, server, lambda page: len(page.find_elements(By.CSS_SELECTOR, "#job-runs a.run-link")) == 2
    )
    browser.find_element(By.CSS_SELECTOR, "#job-runs a.run-link").click()
    _until(
        browser,
        server,
        expected.presence_of_element_located((By.CSS_SELECTOR, "#run-status[data-state=succeeded]")),
    )

    badge = browser.find_element(By.CSS_SELECTOR, "#run-verification .badge")
    assert badge.text == "Verification warnings" and badge.get_attribute("data-verification") == "warnings"
    reasons = browser.find_element(By.ID, "verification-reasons").text
    assert "the backup has 80% fewer files than the last one (20 → 4)" in reasons
    browser.get(server.url + "/runs?verification=warnings")
    assert "shrinking-oliver" in browser.find_element(By.CSS_SELECTOR, "main table").text


def _verification_passed(browser: WebDriver) -> bool:
    """Reload the verification's page; return whether it shows the verification passed."""
    browser.refresh()
    return bool(browser.find_elements(By.CSS_SELECTOR, "#verification-state .badge[data-state=passed]"))


def test_operator_presses_verify_now_on_the_repository_page_and_sees_the_scrub_pass(
    browser: WebDriver, server: Server, tmp_path: Path
) -> None:
    _log_in(browser, server, "oliver")
    _create_job_and_run_it(browser, server, "documents-to-verify", make_tree(tmp_path / "tree"))
    browser.get(server.url + "/repositories")
    browser.find_element(By.LINK_TEXT, "Verification").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Scrubs of local"

    _until(browser, server, expected.element_to_be_clickable((By.ID, "verify-now"))).click()
    _until(browser, server, _verification_passed)

    assert "no damage found" in browser.find_element(By.ID, "verification-summary").text
    assert '"packs"' in browser.find_element(By.ID, "verification-evidence").text
    browser.get(server.url + "/verifications")
    assert "Passed" in browser.find_element(By.ID, "verifications").text


def test_spanish_operator_edits_a_repositorys_verification_schedule_and_sees_it_in_words(
    browser: WebDriver, server: Server
) -> None:
    _log_in(browser, server, "ana")
    browser.get(server.url + "/repositories")
    browser.find_element(By.CSS_SELECTOR, "a[href$='/verification']").click()
    schedule = _until(browser, server, expected.element_to_be_clickable((By.ID, "field-schedule")))
    schedule.clear()
    schedule.send_keys("weekly on saturday at 05:30")
    period = browser.find_element(By.ID, "field-scrub_period_days")
    period.clear()
    period.send_keys("14")
    browser.find_element(By.ID, "save-verification").click()

    words = _until(
        browser,
        server,
        expected.text_to_be_present_in_element((By.ID, "schedule-words"), "semanal, los sábados a las 05:30"),
    )
    assert words
    assert "14 días" in browser.find_element(By.CSS_SELECTOR, "dl.details").text
    assert (
        browser.find_element(By.ID, "field-schedule").get_attribute("value") == "weekly on saturday at 05:30"
    )
