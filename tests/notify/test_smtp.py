"""Delivery through a real SMTP server on 127.0.0.1 (aiosmtpd): STARTTLS, implicit TLS, a login
required, and every failure explained without the password."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resguardo.catalog.enums import SmtpSecurity
from resguardo.core.errors import DeliveryError
from resguardo.notify import Email, SmtpServer, deliver
from tests.fixtures.smtp import SMTP_PASSWORD, SMTP_USER, SmtpFactory, free_port, make_certificate

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EMAIL = Email("ana@example.org", "Prueba: ñandú", "Hola, Ana.\nÚltima línea.\n")


def _server(port: int, security: str, **options: str) -> SmtpServer:
    values = {"username": SMTP_USER, "password": SMTP_PASSWORD, **options}
    return SmtpServer("127.0.0.1", port, SmtpSecurity(security), "backups@example.org", timeout=10, **values)


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_message_is_delivered_over_tls_with_a_login(smtp_server: SmtpFactory, security: str) -> None:
    server = smtp_server(security)

    answer = deliver(_server(server.port, security), EMAIL, NOW)

    assert answer.startswith("250")
    [received] = server.received
    assert received.recipients == ["ana@example.org"]
    assert received.mail_from == "backups@example.org"
    assert received.subject == "Prueba: ñandú"
    assert received.body == "Hola, Ana.\nÚltima línea.\n"


def test_a_wrong_password_says_the_login_was_refused_without_the_password(smtp_server: SmtpFactory) -> None:
    server = smtp_server("starttls")

    with pytest.raises(DeliveryError) as caught:
        deliver(_server(server.port, "starttls", password="not-the-Password-99"), EMAIL, NOW)

    assert "refused the login of 'mailer'" in caught.value.message
    assert "user name and password" in caught.value.hint
    assert "not-the-Password-99" not in f"{caught.value.message} {caught.value.hint}"
    assert server.received == []


def test_a_server_that_requires_a_login_refuses_a_message_sent_without_one(smtp_server: SmtpFactory) -> None:
    server = smtp_server("starttls")

    with pytest.raises(DeliveryError) as caught:
        deliver(_server(server.port, "starttls", username="", password=""), EMAIL, NOW)

    assert "530" in caught.value.message
    assert server.received == []


def test_a_closed_port_says_the_connection_was_refused() -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(_server(free_port(), "starttls"), EMAIL, NOW)

    assert "refused the connection" in caught.value.message
    assert "host and port" in caught.value.hint


def test_an_untrusted_certificate_fails_the_tls_handshake_and_says_so(
    smtp_server: SmtpFactory, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = smtp_server("tls")
    other, _key = make_certificate(tmp_path_factory.mktemp("other-authority"))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))

    with pytest.raises(DeliveryError) as caught:
        deliver(_server(server.port, "tls"), EMAIL, NOW)

    assert "certificate of the SMTP server" in caught.value.message
    assert "not trusted" in caught.value.message
    assert server.received == []


def test_tls_spoken_to_a_starttls_port_fails_and_names_the_security_setting(smtp_server: SmtpFactory) -> None:
    server = smtp_server("starttls")

    with pytest.raises(DeliveryError) as caught:
        deliver(_server(server.port, "tls"), EMAIL, NOW)

    assert "security" in caught.value.hint or "did not answer" in caught.value.message


def test_starttls_asked_of_a_server_without_it_is_refused_before_any_login(smtp_server: SmtpFactory) -> None:
    server = smtp_server("none", require_auth=False)

    with pytest.raises(DeliveryError) as caught:
        deliver(_server(server.port, "starttls"), EMAIL, NOW)

    assert "does not offer STARTTLS" in caught.value.message
    assert server.received == []


def test_a_relay_without_encryption_or_login_takes_the_message(smtp_server: SmtpFactory) -> None:
    server = smtp_server("none", require_auth=False)

    deliver(_server(server.port, "none", username="", password=""), EMAIL, NOW)

    assert [received.subject for received in server.received] == ["Prueba: ñandú"]
