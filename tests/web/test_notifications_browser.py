"""The "Notifications" page in a real headless Chromium against a real ``resguardo serve``: an
administrator fills in the SMTP settings, saves them (the password is then only marked as set), and
presses "Send a test message", which reaches a real SMTP server on 127.0.0.1 (STARTTLS, a login)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as expected
from selenium.webdriver.support.select import Select

from tests.cli.test_serve import ADMIN_PASSWORD, Server, log_in, start_server
from tests.fixtures.smtp import SMTP_PASSWORD, SMTP_USER, SmtpFactory, SmtpTestServer
from tests.notify.conftest import smtp_server
from tests.web.test_browser import USER_PASSWORD, _until, browser

__all__ = ["browser", "smtp_server"]

pytestmark = pytest.mark.slow


@pytest.fixture
def mail(smtp_server: SmtpFactory) -> SmtpTestServer:
    """Return a running SMTP server (STARTTLS, login required), trusted through SSL_CERT_FILE."""
    return smtp_server("starttls")


@pytest.fixture
def server(mail: SmtpTestServer, tmp_path: Path) -> Iterator[Server]:
    """Start ``resguardo serve`` (it inherits SSL_CERT_FILE) with an English administrator, "carmen"."""
    server = start_server(
        tmp_path / "data",
        tmp_path / "logs",
        RESGUARDO_ADMIN_PASSWORD=ADMIN_PASSWORD,
        RESGUARDO_CACHE_DIR=str(tmp_path / "cache"),
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            body = {
                "username": "carmen",
                "password": USER_PASSWORD,
                "roles": ["administrator"],
                "language": "en",
                "email": "carmen@example.org",
            }
            answer = client.post("/api/v1/users", json=body, headers=log_in(client))
            assert answer.status_code == 201, answer.text
        yield server
    finally:
        if server.process.poll() is None:
            server.terminate()


def _type(browser: WebDriver, field: str, text: str) -> None:
    element = browser.find_element(By.ID, f"field-{field}")
    element.clear()
    element.send_keys(text)


def test_administrator_saves_the_smtp_settings_and_the_test_message_arrives(
    browser: WebDriver, server: Server, mail: SmtpTestServer
) -> None:
    browser.delete_all_cookies()
    browser.get(server.url + "/login")
    browser.find_element(By.ID, "field-username").send_keys("carmen")
    browser.find_element(By.ID, "field-password").send_keys(USER_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _until(browser, server, expected.presence_of_element_located((By.CSS_SELECTOR, ".user-menu")))
    browser.find_element(By.LINK_TEXT, "Notifications").click()
    _until(browser, server, expected.presence_of_element_located((By.ID, "smtp-settings")))

    browser.find_element(By.ID, "field-enabled").click()
    _type(browser, "smtp_host", mail.host)
    _type(browser, "smtp_port", str(mail.port))
    Select(browser.find_element(By.ID, "field-smtp_security")).select_by_visible_text("STARTTLS")
    _type(browser, "smtp_username", SMTP_USER)
    _type(browser, "password", SMTP_PASSWORD)
    _type(browser, "sender", "backups@example.org")
    browser.find_element(By.CSS_SELECTOR, "#smtp-settings button[type=submit]").click()
    _until(
        browser,
        server,
        expected.presence_of_element_located((By.CSS_SELECTOR, "label[for=field-password] .badge")),
    )

    assert browser.find_element(By.ID, "field-smtp_host").get_attribute("value") == mail.host
    assert browser.find_element(By.ID, "field-password").get_attribute("value") == ""
    assert SMTP_PASSWORD not in browser.page_source
    _type(browser, "to", "ops@example.org")
    browser.find_element(By.ID, "send-test").click()
    result = _until(browser, server, expected.presence_of_element_located((By.ID, "test-result")))

    assert "The test message to ops@example.org was sent" in result.text
    assert "250" in result.text
    [received] = mail.received
    assert received.recipients == ["ops@example.org"] and received.subject == "[Resguardo] Test message"
    assert "sent by carmen" in received.body
