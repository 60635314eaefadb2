"""The one way a feature sends e-mail: :func:`notify` writes the messages to the catalog's outbox in
the caller's transaction; the sender delivers them after the commit.

Other features call it the same way (a verification warning, a request's transitions, a restore's
result): add ``templates/EVENT.es.txt`` and ``EVENT.en.txt``, then call
``notify(session, "EVENT", recipients, data, now=now)`` before committing the change that causes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import queries
from resguardo.catalog.enums import Language
from resguardo.catalog.models import Notification, User
from resguardo.notify._templates import render


@dataclass(frozen=True)
class Recipient:
    """Whom a message goes to, and in which language it is written."""

    address: str
    language: Language = Language.SPANISH
    user_id: int | None = None

    @classmethod
    def of_user(cls, user: User) -> Recipient:
        """Return the recipient that is ``user`` (their e-mail address and language)."""
        return cls(user.email, user.language, user.id)


def notify(
    session: Session,
    event: str,
    recipients: Iterable[Recipient],
    data: dict[str, Any],
    *,
    now: datetime,
    job_id: int | None = None,
    run_id: int | None = None,
) -> list[Notification]:
    """Queue the message of ``event`` to each recipient, in their language, in the session's
    transaction (the caller commits); return the queued messages.

    Nothing is queued while notifications are disabled in the settings, nor twice to one address, nor
    to a recipient without an address. ``data`` (JSON-ready values) fills the template; the console's
    address is added to it as ``console_url``. ``job_id`` and ``run_id`` link the messages to what
    they are about.

    Raises:
        UsageError: no template for ``event``, or ``data`` lacks a value the template uses.
    """
    settings = queries.notification_settings(session)
    if not settings.enabled:
        return []
    values = {"console_url": settings.console_url, **data}
    queued: list[Notification] = []
    seen: set[str] = set()
    for recipient in recipients:
        address = recipient.address.strip()
        if not address or address.lower() in seen:
            continue
        seen.add(address.lower())
        subject, body = render(event, recipient.language, values)
        queued.append(
            queries.queue_notification(
                session,
                event=event,
                recipient=address,
                language=recipient.language,
                subject=subject,
                body=body,
                data=values,
                now=now,
                user_id=recipient.user_id,
                job_id=job_id,
                run_id=run_id,
            )
        )
    return queued
