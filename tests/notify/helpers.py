"""What the notification tests share: SMTP settings saved in the catalog, and the outbox read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import SecretKey
from resguardo.catalog.models import Notification
from resguardo.catalog.queries import create_user, update_notification_settings
from tests.fixtures.smtp import SMTP_PASSWORD, SmtpTestServer

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def configure(
    sessions: sessionmaker[Session],
    key: SecretKey,
    server: SmtpTestServer,
    *,
    password: str = SMTP_PASSWORD,
    **overrides: Any,
) -> None:
    """Save settings that reach ``server`` (enabled) with ``password``, and commit."""
    with sessions() as session:
        update_notification_settings(session, key, server.settings(**overrides), NOW, password=password)
        session.commit()


def outbox(sessions: sessionmaker[Session]) -> list[Notification]:
    """Return every message of the outbox, oldest first (detached)."""
    with sessions() as session:
        messages = list(session.scalars(select(Notification).order_by(Notification.id)))
        session.expunge_all()
        return messages


def add_people(sessions: sessionmaker[Session]) -> None:
    """Add the people of the notification tests, and commit:

    * ana, operator, Spanish, ana@example.org;
    * bob, administrator, English, bob@example.org;
    * carla, operator who turned failure messages off, carla@example.org;
    * dario, administrator without an e-mail address;
    * elena, requester, elena@example.org (not an operator).
    """
    with sessions() as session:
        create_user(
            session, username="ana", roles=["operator"], email="ana@example.org", language="es", now=NOW
        )
        create_user(
            session, username="bob", roles=["administrator"], email="bob@example.org", language="en", now=NOW
        )
        carla = create_user(session, username="carla", roles=["operator"], email="carla@example.org", now=NOW)
        carla.notify_failures = False
        create_user(session, username="dario", roles=["administrator"], now=NOW)
        create_user(session, username="elena", roles=["requester"], email="elena@example.org", now=NOW)
        session.commit()
