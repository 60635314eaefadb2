"""The notification endpoints over a real SMTP server on 127.0.0.1: the SMTP settings (the password
write-only, audited as changed only), the test message, the outbox and its retry, one's preferences."""

from __future__ import annotations

from typing import Any

import pytest

from resguardo.catalog.enums import Language, Role
from resguardo.catalog.queries import get_user, list_audit
from resguardo.notify import Recipient, Sender, notify
from tests.api.conftest import Api
from tests.fixtures.smtp import SMTP_PASSWORD, SmtpFactory
from tests.notify.conftest import smtp_server

__all__ = ["smtp_server"]


def _save(api: Api, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return api.client.put("/api/v1/settings/smtp", json=body, headers=headers)


def test_settings_keep_the_password_write_only_and_audit_only_that_it_changed(
    api: Api, admin: dict[str, str]
) -> None:
    secret = "Smtp-Password-Never-Shown-77"
    body = {"smtp_host": "mail.example.org", "sender": "backups@example.org", "enabled": True}

    saved = _save(api, admin, {**body, "smtp_username": "backups", "password": secret})

    assert saved.status_code == 200, saved.text
    shown = api.client.get("/api/v1/settings/smtp", headers=admin).json()
    assert shown["password_set"] is True and shown["smtp_port"] == 587 and shown["enabled"] is True
    assert secret not in saved.text and secret not in str(shown)
    with api.session() as session:
        [entry] = list_audit(session, object_type="settings").items
        assert entry.action == "settings.smtp" and entry.after is not None
        assert entry.after["password_changed"] is True and entry.after["smtp_host"] == "mail.example.org"
        assert secret not in str(entry.before) + str(entry.after)
    kept = _save(api, admin, {"smtp_port": 465, "smtp_security": "tls"}).json()
    assert (kept["password_set"], kept["smtp_port"], kept["smtp_host"]) == (True, 465, "mail.example.org")
    assert _save(api, admin, {"password": ""}).json()["password_set"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"smtp_security": "ssl"}, "smtp_security"),
        ({"smtp_port": 70000}, "smtp_port"),
        ({"sender": "not an address"}, "sender"),
        ({"sender": "nobody"}, "sender"),
        ({"console_url": "backups.example.org"}, "console_url"),
        ({"enabled": True}, "smtp_host"),
        ({"failure_window_hours": -1}, "failure_window_hours"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_wrong_settings_are_refused_naming_the_field(
    api: Api, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = _save(api, admin, body)

    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    fields = [problem["field"] for problem in details.get("errors", [])] or [details.get("field")]
    assert any(field in str(name) for name in fields), details


def test_the_test_message_reaches_the_server_in_the_callers_language(
    api: Api, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    user_id, token = api.user("boss", [Role.ADMINISTRATOR])
    with api.session() as session:
        get_user(session, user_id).language = Language.ENGLISH
        session.commit()
    headers = api.headers(token)
    _save(api, headers, {**server.settings(enabled=False), "password": SMTP_PASSWORD})

    result = api.client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.org"}, headers=headers)

    assert result.status_code == 200, result.text
    assert result.json()["delivered"] is True and result.json()["answer"].startswith("250")
    [received] = server.received
    assert received.recipients == ["ops@example.org"] and received.subject == "[Resguardo] Test message"
    assert "sent by boss" in received.body


def test_a_failing_test_message_gives_the_servers_answer_and_what_to_change(
    api: Api, admin: dict[str, str], smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    _save(api, admin, {**server.settings(), "password": "Wrong-Password-31"})

    result = api.client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.org"}, headers=admin)

    assert result.status_code == 200
    document = result.json()
    assert document["delivered"] is False
    assert "refused the login" in document["error"] and "password" in document["hint"]
    assert "Wrong-Password-31" not in result.text
    bad = api.client.post("/api/v1/settings/smtp/test", json={"to": "nobody"}, headers=admin)
    assert bad.status_code == 422


def test_the_outbox_lists_by_state_and_a_failed_message_is_retried_once(
    api: Api, admin: dict[str, str], smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    _save(api, admin, {**server.settings(max_attempts=1), "password": "not-it"})
    with api.session() as session:
        data = {"requested_by": "x", "server": "s", "security": "tls"}
        notify(session, "test_message", [Recipient("ana@example.org")], data, now=api.clock.now())
        session.commit()
    Sender(api.sessions, api.secret_key, clock=api.clock).send_due()  # type: ignore[arg-type]

    failed = api.client.get("/api/v1/notifications", params={"state": "failed"}, headers=admin).json()
    [item] = failed["items"]
    assert (item["recipient"], item["attempts"], item["state"]) == ("ana@example.org", 1, "failed")
    assert "refused the login" in item["last_error"]
    assert (
        api.client.get("/api/v1/notifications", params={"state": "sent"}, headers=admin).json()["total"] == 0
    )

    retried = api.client.post(f"/api/v1/notifications/{item['id']}/retry", headers=admin)
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    again = api.client.post(f"/api/v1/notifications/{item['id']}/retry", headers=admin)
    assert again.status_code == 409
    missing = api.client.post("/api/v1/notifications/999999/retry", headers=admin)
    assert missing.status_code == 404
    bad_state = api.client.get("/api/v1/notifications", params={"state": "lost"}, headers=admin)
    assert bad_state.status_code == 422


def test_anyone_turns_their_own_failure_messages_off(api: Api) -> None:
    user_id, token = api.user("oper", [Role.OPERATOR])

    response = api.client.put(
        "/api/v1/session/preferences", json={"notify_failures": False}, headers=api.headers(token)
    )

    assert response.status_code == 200 and response.json()["notify_failures"] is False
    with api.session() as session:
        assert get_user(session, user_id).notify_failures is False
        [entry] = list_audit(session, object_type="user", object_id=user_id).items
        assert entry.action == "user.preferences"


def test_a_test_message_before_any_settings_says_to_save_them_first(api: Api, admin: dict[str, str]) -> None:
    response = api.client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.org"}, headers=admin)

    assert response.status_code == 422
    assert "not set" in response.json()["error"]["message"]
    assert "save the SMTP settings first" in response.text
