"""The sender: delivers the outbox's due messages through the SMTP server of the settings.

:meth:`Sender.send_due` claims each due message (one conditional UPDATE; see
:mod:`resguardo.catalog.queries.notifications`), hands it to the server, and records the outcome: sent;
queued again after a backoff (1 minute, doubling, at most 1 hour); or failed once ``max_attempts``
attempts failed (visible in the outbox, retried by a person). ``resguardo serve`` and ``resguardo
worker`` run :meth:`Sender.serve` beside the scheduling loop. Nothing is lost on a restart: queued
messages stay in the catalog, and one whose sender died mid-way is due again when its claim's lease
ends (it may then arrive twice).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import SecretKey, queries
from resguardo.catalog.models import Notification, NotificationSettings
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.core.errors import DeliveryError, SecretKeyError
from resguardo.notify._smtp import DEFAULT_TIMEOUT, Email, SmtpServer, deliver

LOGGER = logging.getLogger("resguardo.notify")
DEFAULT_INTERVAL = 10.0
LEASE = timedelta(minutes=5)
FIRST_BACKOFF = timedelta(minutes=1)
LONGEST_BACKOFF = timedelta(hours=1)
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """Return how long to wait before the next attempt after ``attempts`` failed ones (1 min, doubling,
    at most 1 hour)."""
    delay: timedelta = FIRST_BACKOFF * (2 ** max(attempts - 1, 0))
    return min(delay, LONGEST_BACKOFF)


def smtp_server(
    settings: NotificationSettings, key: SecretKey, timeout: float = DEFAULT_TIMEOUT
) -> SmtpServer:
    """Return the server of the settings, its password revealed in memory.

    Raises:
        SecretKeyError: the password was sealed with another key.
    """
    return SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        sender=settings.sender,
        username=settings.smtp_username,
        password=queries.reveal_smtp_password(settings, key),
        timeout=timeout,
    )


@dataclass(frozen=True)
class Attempt:
    """How one message's attempt went: its ID, the state it is in now, and the error (empty if sent)."""

    notification_id: int
    state: str
    error: str


def new_sender_id() -> str:
    """Return an ID for a sender: host name, process ID and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Sender:
    """Delivers due messages of the outbox; see the module's docstring.

    Args:
        sessions: makes catalog sessions.
        secret_key: the catalog's key (to reveal the SMTP password).
        clock: the time of claims, attempts and backoffs.
        sender_id: this sender's ID in its claims (default: host, process and a random suffix).
        timeout: seconds to wait for the SMTP server.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        secret_key: SecretKey,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sender_id: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.sessions = sessions
        self.secret_key = secret_key
        self.clock = clock
        self.sender_id = sender_id or new_sender_id()
        self.timeout = timeout

    def send_due(self) -> list[Attempt]:
        """Try every message due now (none while notifications are disabled); return the attempts."""
        attempts: list[Attempt] = []
        with self.sessions() as session:
            settings = queries.notification_settings(session)
            if not settings.enabled:
                return attempts
            max_attempts = settings.max_attempts
            try:
                server: SmtpServer | DeliveryError = smtp_server(settings, self.secret_key, self.timeout)
            except SecretKeyError as error:
                server = DeliveryError(f"cannot open the SMTP password: {error.message}", error.hint)
            due = queries.due_notification_ids(session, self.clock.now(), BATCH)
            session.rollback()
            for notification_id, seen_attempts in due:
                now = self.clock.now()
                if not queries.claim_notification(
                    session, notification_id, seen_attempts, self.sender_id, now, LEASE
                ):
                    continue
                message = queries.get_notification(session, notification_id)
                attempts.append(self._attempt(session, message, server, max_attempts))
        return attempts

    def _attempt(
        self, session: Session, message: Notification, server: SmtpServer | DeliveryError, max_attempts: int
    ) -> Attempt:
        """Deliver one claimed message and record the outcome (committed). No transaction is open
        while the SMTP server is talked to."""
        email = Email(message.recipient, message.subject, message.body)
        identity, attempts = message.id, message.attempts
        session.rollback()
        error: str | None = None
        try:
            if isinstance(server, DeliveryError):
                raise server
            deliver(server, email, self.clock.now())
        except DeliveryError as failure:
            error = f"{failure.message} ({failure.hint})" if failure.hint else failure.message
        except Exception as failure:
            error = f"unexpected error while sending: {type(failure).__name__}: {failure}"
            if isinstance(server, SmtpServer) and server.password:
                error = error.replace(server.password, "********")
        now = self.clock.now()
        retry_at = None if attempts >= max_attempts else now + backoff(attempts)
        recorded = queries.record_attempt(session, identity, self.sender_id, now, error, retry_at)
        session.commit()
        if recorded is None:
            return Attempt(identity, "lost", error or "")
        if error is not None:
            LOGGER.warning("notification %d to %s not sent: %s", identity, recorded.recipient, error)
        return Attempt(identity, recorded.state.value, error or "")

    def serve(self, stop: threading.Event, interval: float = DEFAULT_INTERVAL) -> None:
        """Send due messages every ``interval`` seconds until ``stop`` is set; an error of a pass (the
        catalog away, say) is logged and the next pass tries again."""
        while not stop.is_set():
            try:
                self.send_due()
            except Exception:
                LOGGER.exception("the e-mail sender's pass failed; trying again in %s s", interval)
            stop.wait(interval)


def send_test_message(
    session: Session,
    key: SecretKey,
    recipient: str,
    *,
    requested_by: str,
    now: datetime,
    language: str = "es",
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Send a test message to ``recipient`` now, through the settings' server (enabled or not), without
    the outbox; return the server's answer (e.g. ``250 OK``).

    Raises:
        UsageError: ``recipient`` is not an address, or the server or sender is not set.
        DeliveryError: the server could not be reached, or refused the login or the message.
        SecretKeyError: the SMTP password was sealed with another key.
    """
    from resguardo.catalog.enums import Language
    from resguardo.core.errors import UsageError
    from resguardo.notify._templates import render

    if not queries.is_email_address(recipient):
        raise UsageError(f"to: {recipient!r} is not an e-mail address", "e.g. you@example.org")
    settings = queries.notification_settings(session)
    if not settings.smtp_host or not settings.sender:
        raise UsageError("the SMTP server and the sender address are not set", "save the SMTP settings first")
    server = smtp_server(settings, key, timeout)
    data = {"requested_by": requested_by, "server": server.address, "security": server.security.value}
    chosen = Language(language) if language in {item.value for item in Language} else Language.SPANISH
    subject, body = render("test_message", chosen, data)
    return deliver(server, Email(recipient, subject, body), now)
