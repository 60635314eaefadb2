"""``resguardo settings smtp`` and ``resguardo notify`` on the catalog (local) and on a real server
(remote), against a real SMTP server on 127.0.0.1: the password never printed, the server's answer
said plainly, the outbox listed and a failed message retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.catalog import load_secret_key
from resguardo.catalog.enums import Language
from resguardo.clock import SYSTEM_CLOCK
from resguardo.notify import Recipient, Sender, notify
from tests.cli.catalog_modes import Mode, opened_mode
from tests.fixtures.smtp import SMTP_PASSWORD, SMTP_USER, SmtpFactory, SmtpTestServer
from tests.notify.conftest import smtp_server

__all__ = ["smtp_server"]


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    with opened_mode(request.param, tmp_path, monkeypatch) as opened:
        yield opened


def _set(mode: Mode, server: SmtpTestServer, password_file: Path, *extra: str) -> None:
    outcome = mode.cli(
        "settings", "smtp", "set",
        "--host", server.host, "--port", str(server.port), "--security", server.security,
        "--username", SMTP_USER, "--password-file", str(password_file),
        "--sender", "backups@example.org", "--enable", *extra,
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr


def test_smtp_settings_are_saved_shown_without_the_password_and_a_test_message_arrives(
    mode: Mode, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = smtp_server("starttls")
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n")

    _set(mode, server, password_file, "--console-url", "https://backups.example.org")
    shown = mode.cli("settings", "smtp", "show", json=False)
    sent = mode.cli("notify", "test", "--to", "ops@example.org", json=False)

    assert shown.exit_code == 0 and "password_set: True" in shown.stdout
    assert f"smtp_port: {server.port}" in shown.stdout and "smtp_security: starttls" in shown.stdout
    assert SMTP_PASSWORD not in shown.stdout + shown.stderr + sent.stdout + sent.stderr
    assert sent.exit_code == 0, sent.stdout + sent.stderr
    assert "the server answered 250" in sent.stdout + sent.stderr
    [received] = server.received
    assert received.recipients == ["ops@example.org"] and received.subject == "[Resguardo] Mensaje de prueba"


def test_a_refused_test_message_exits_1_with_the_servers_answer_and_the_fix(
    mode: Mode, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = smtp_server("tls")
    password_file = tmp_path / "wrong-password"
    password_file.write_text("Not-The-Password-63\n")
    _set(mode, server, password_file)

    outcome = mode.cli("notify", "test", "--to", "ops@example.org", json=False)

    assert outcome.exit_code == 1
    assert "NOT sent" in outcome.stdout and "refused the login of 'mailer'" in outcome.stdout
    assert "fix: check the SMTP user name and password" in outcome.stdout
    assert "Not-The-Password-63" not in outcome.stdout + outcome.stderr


def test_a_wrong_setting_exits_2_naming_it(mode: Mode) -> None:
    outcome = mode.cli("settings", "smtp", "set", "--security", "ssl")

    assert outcome.exit_code == 2
    assert "smtp_security" in outcome.stderr


def test_the_outbox_is_listed_by_state_and_a_failed_message_is_retried(
    mode: Mode, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = smtp_server("starttls")
    password_file = tmp_path / "wrong-password"
    password_file.write_text("Not-The-Password-63\n")
    _set(mode, server, password_file, "--max-attempts", "1")
    with mode.sessions() as session:
        data = {"requested_by": "x", "server": "s", "security": "tls"}
        notify(
            session,
            "test_message",
            [Recipient("ana@example.org", Language.ENGLISH)],
            data,
            now=SYSTEM_CLOCK.now(),
        )
        session.commit()
    Sender(mode.sessions, load_secret_key(mode.data_dir)).send_due()

    listed = mode.cli("notify", "list", "--state", "failed")
    [message] = listed.json()
    retried = mode.cli("notify", "retry", str(message["id"]))
    again = mode.cli("notify", "retry", str(message["id"]))

    assert (message["recipient"], message["state"], message["attempts"]) == ("ana@example.org", "failed", 1)
    assert "refused the login" in message["last_error"]
    assert retried.exit_code == 0 and retried.json()["state"] == "queued"
    assert again.exit_code == 1 and "not failed" in again.stderr
    assert mode.cli("notify", "list", "--state", "failed").json() == []
