"""The "Notifications" page: the settings form saved by the API's checks (a wrong field marked, the
password never shown back), the outbox in the user's language, and "retry now" for a failed message."""

from __future__ import annotations

from resguardo.catalog.enums import Language, NotificationState, Role
from resguardo.catalog.queries import get_notification, list_audit, update_notification_settings
from resguardo.notify import Recipient, notify
from tests.api.conftest import NOW
from tests.web.conftest import Console, csrf_of

SETTINGS = {
    "enabled": "on",
    "smtp_host": "mail.example.org",
    "smtp_port": "587",
    "smtp_security": "starttls",
    "smtp_username": "backups",
    "sender": "backups@example.org",
    "console_url": "https://backups.example.org",
    "failure_window_hours": "6",
    "max_attempts": "6",
    "notify_recovery": "on",
}


def test_the_settings_form_saves_marks_a_wrong_field_and_never_shows_the_password(console: Console) -> None:
    console.user("admin", [Role.ADMINISTRATOR], Language.ENGLISH)
    browser = console.browser("admin")
    csrf = csrf_of(browser.get("/notifications").text)

    wrong = browser.post("/notifications/settings", data={**SETTINGS, "sender": "nobody", "csrf_token": csrf})
    saved = browser.post(
        "/notifications/settings", data={**SETTINGS, "password": "Form-Password-88", "csrf_token": csrf}
    )
    page = browser.get("/notifications").text

    assert wrong.status_code == 422 and "is not an e-mail address" in wrong.text
    assert saved.status_code == 303, saved.text
    assert 'value="mail.example.org"' in page and "Form-Password-88" not in page
    assert 'badge-neutral">set<' in page
    with console.sessions() as session:
        [entry] = list_audit(session, object_type="settings").items
        assert entry.after is not None and entry.after["password_changed"] is True


def test_a_spanish_administrator_sees_the_outbox_and_retries_a_failed_message(console: Console) -> None:
    console.user("admin", [Role.ADMINISTRATOR], Language.SPANISH)
    with console.sessions() as session:
        update_notification_settings(
            session, None, {"enabled": True, "smtp_host": "m", "sender": "a@example.org"}, NOW
        )
        data = {"requested_by": "x", "server": "s", "security": "tls"}
        [message] = notify(session, "test_message", [Recipient("ana@example.org")], data, now=NOW)
        message.state, message.attempts, message.last_error = NotificationState.FAILED, 6, "refused"
        session.commit()
        identity = message.id
    browser = console.browser("admin")
    page = browser.get("/notifications?state=failed").text

    assert "Bandeja de salida" in page and "ana@example.org" in page and "Reintentar ahora" in page
    retried = browser.post(f"/notifications/{identity}/retry", data={"csrf_token": csrf_of(page)})

    assert retried.status_code == 303
    with console.sessions() as session:
        assert get_notification(session, identity).state is NotificationState.QUEUED
    assert "Reintentar ahora" not in browser.get("/notifications").text
