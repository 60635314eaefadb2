"""The sender against a real SMTP server, on SQLite and PostgreSQL: messages of the outbox are sent in
their recipient's language, retried with backoff while the server is away, kept across restarts,
given up after the attempts allowed, and never sent twice by two senders."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import SecretKey, session_factory
from resguardo.catalog.enums import Language, NotificationState
from resguardo.catalog.models import Notification, NotificationSettings
from resguardo.catalog.queries import claim_notification, retry_notification
from resguardo.clock import FakeClock
from resguardo.core.errors import Conflict
from resguardo.notify import Recipient, Sender, notify
from resguardo.notify.sender import LEASE
from tests.fixtures.smtp import SMTP_PASSWORD, SmtpFactory
from tests.notify.helpers import NOW, configure, outbox

TEST_DATA = {"requested_by": "ana", "server": "mail.example.org:587", "security": "starttls"}


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _queue(sessions: sessionmaker[Session], *recipients: Recipient) -> list[int]:
    with sessions() as session:
        queued = notify(session, "test_message", recipients, TEST_DATA, now=NOW)
        session.commit()
        return [message.id for message in queued]


def test_queued_messages_are_sent_in_each_recipients_language(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    configure(sessions, secret_key, server)
    _queue(
        sessions,
        Recipient("ana@example.org", Language.SPANISH),
        Recipient("bob@example.org", Language.ENGLISH),
    )

    attempts = Sender(sessions, secret_key, clock=FakeClock(NOW)).send_due()

    assert [attempt.state for attempt in attempts] == ["sent", "sent"]
    by_recipient = {received.recipients[0]: received for received in server.received}
    assert by_recipient["ana@example.org"].subject == "[Resguardo] Mensaje de prueba"
    assert "enviado por ana" in by_recipient["ana@example.org"].body
    assert by_recipient["bob@example.org"].subject == "[Resguardo] Test message"
    assert "sent by ana" in by_recipient["bob@example.org"].body
    assert all(
        message.state is NotificationState.SENT and message.sent_at == NOW for message in outbox(sessions)
    )
    assert Sender(sessions, secret_key, clock=FakeClock(NOW)).send_due() == []


def test_a_server_away_keeps_the_message_queued_with_backoff_until_it_comes_back(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("tls")
    configure(sessions, secret_key, server)
    server.stop()
    _queue(sessions, Recipient("ana@example.org"))
    clock = FakeClock(NOW)
    sender = Sender(sessions, secret_key, clock=clock, timeout=5)

    [first] = sender.send_due()
    [message] = outbox(sessions)
    assert first.state == "queued" and "refused the connection" in message.last_error
    assert (message.attempts, message.next_attempt_at) == (1, NOW + timedelta(minutes=1))
    clock.advance(30)
    assert sender.send_due() == []  # not due before its backoff
    clock.advance(30)
    [second] = sender.send_due()
    assert second.state == "queued"
    assert outbox(sessions)[0].next_attempt_at == clock.now() + timedelta(minutes=2)

    server.start()
    clock.advance(120)
    [third] = sender.send_due()

    assert third.state == "sent"
    [message] = outbox(sessions)
    assert (message.state, message.attempts, message.last_error) == (NotificationState.SENT, 3, "")
    assert [received.recipients for received in server.received] == [["ana@example.org"]]


def test_a_new_sender_after_a_restart_sends_what_was_queued(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    configure(sessions, secret_key, server)
    _queue(sessions, Recipient("ana@example.org"), Recipient("bob@example.org"))

    attempts = Sender(sessions, secret_key, clock=FakeClock(NOW), sender_id="after-restart").send_due()

    assert [attempt.state for attempt in attempts] == ["sent", "sent"]
    assert sorted(received.recipients[0] for received in server.received) == [
        "ana@example.org",
        "bob@example.org",
    ]


def test_a_message_claimed_by_a_sender_that_died_is_sent_once_its_lease_ends(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    configure(sessions, secret_key, server)
    [identity] = _queue(sessions, Recipient("ana@example.org"))
    with sessions() as session:
        assert claim_notification(session, identity, 0, "died-mid-send", NOW, LEASE)
    clock = FakeClock(NOW)
    sender = Sender(sessions, secret_key, clock=clock)

    assert sender.send_due() == []  # the dead sender's lease still runs
    clock.advance(LEASE.total_seconds())
    [attempt] = sender.send_due()

    assert attempt.state == "sent"
    [message] = outbox(sessions)
    assert message.attempts == 2 and len(server.received) == 1


def test_a_wrong_password_fails_each_attempt_clearly_then_gives_up_without_showing_it(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    wrong = "Wrong-Password-of-the-Test-51"
    configure(sessions, secret_key, server, password=wrong, max_attempts=2)
    _queue(sessions, Recipient("ana@example.org"))
    clock = FakeClock(NOW)
    sender = Sender(sessions, secret_key, clock=clock)

    [first] = sender.send_due()
    clock.advance(60)
    [second] = sender.send_due()

    assert (first.state, second.state) == ("queued", "failed")
    [message] = outbox(sessions)
    assert message.state is NotificationState.FAILED and message.attempts == 2
    assert "refused the login of 'mailer'" in message.last_error
    assert "check the SMTP user name and password" in message.last_error
    with sessions() as session:
        settings = session.get(NotificationSettings, 1)
        assert settings is not None and wrong.encode() not in (settings.password_sealed or b"")
        texts = [str(value) for row in session.execute(select(Notification)).all() for value in row]
    assert not any(wrong in text for text in texts)
    assert server.received == []


def test_a_failed_message_retried_by_a_person_is_sent_and_a_sent_one_is_not_retried(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    configure(sessions, secret_key, server, password="not-it", max_attempts=1)
    [identity] = _queue(sessions, Recipient("ana@example.org"))
    clock = FakeClock(NOW)
    assert [attempt.state for attempt in Sender(sessions, secret_key, clock=clock).send_due()] == ["failed"]
    configure(sessions, secret_key, server, password=SMTP_PASSWORD)

    with sessions() as session:
        retried = retry_notification(session, identity, clock.now())
        session.commit()
        assert (retried.state, retried.attempts) == (NotificationState.QUEUED, 0)
    [attempt] = Sender(sessions, secret_key, clock=clock).send_due()

    assert attempt.state == "sent" and len(server.received) == 1
    with sessions() as session, pytest.raises(Conflict, match="is sent, not failed"):
        retry_notification(session, identity, clock.now())


def test_nothing_is_queued_or_sent_while_notifications_are_disabled(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("starttls")
    configure(sessions, secret_key, server, enabled=False)

    assert _queue(sessions, Recipient("ana@example.org")) == []
    assert Sender(sessions, secret_key, clock=FakeClock(NOW)).send_due() == []
    assert server.received == []


def test_two_senders_at_once_send_every_message_exactly_once(
    sessions: sessionmaker[Session], secret_key: SecretKey, smtp_server: SmtpFactory
) -> None:
    server = smtp_server("none", require_auth=False)
    configure(sessions, secret_key, server, smtp_username="")
    recipients = [Recipient(f"person{number}@example.org") for number in range(30)]
    _queue(sessions, *recipients)
    senders = [Sender(sessions, secret_key, clock=FakeClock(NOW), sender_id=f"sender-{n}") for n in (1, 2)]
    results: dict[str, list[str]] = {}

    def send(sender: Sender) -> None:
        results[sender.sender_id] = [attempt.state for attempt in sender.send_due()]

    threads = [threading.Thread(target=send, args=(sender,)) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    delivered = sorted(received.recipients[0] for received in server.received)
    assert delivered == sorted(recipient.address for recipient in recipients)
    assert sum(len(states) for states in results.values()) == 30
    assert all(message.attempts == 1 for message in outbox(sessions))
