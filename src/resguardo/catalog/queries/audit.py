"""The audit log: append an entry, read entries. There is deliberately no function to change or remove
one, and the database refuses it too (triggers installed by the first migration)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from resguardo.catalog.models import AuditEntry, Base, User
from resguardo.catalog.queries._common import DEFAULT_PAGE_SIZE, Page, paginate
from resguardo.core.errors import UsageError

HIDDEN_FIELDS = frozenset({"password_hash", "token_hash", "sealed", "password_sealed"})
"""Fields :func:`snapshot_of` never copies into the log."""


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def snapshot_of(record: Base) -> dict[str, Any]:
    """Return a record's columns as a JSON-ready dictionary for ``before``/``after``, secrets left out."""
    mapper = inspect(type(record))
    return {
        column.key: _plain(getattr(record, column.key))
        for column in mapper.column_attrs
        if column.key not in HIDDEN_FIELDS
    }


def record_audit(
    session: Session,
    *,
    now: datetime,
    action: str,
    object_type: str,
    object_id: str | int = "",
    actor: User | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_name: str = "",
) -> AuditEntry:
    """Append an entry to the audit log and return it. ``actor`` None means the service itself.

    ``actor_name`` names who acted when ``actor`` is None (e.g. the local account running the CLI).

    Raises:
        UsageError: no action or object type given.
    """
    if not action or not object_type:
        raise UsageError("an audit entry needs an action and an object type")
    entry = AuditEntry(
        at=now,
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else actor_name,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
    )
    session.add(entry)
    session.flush()
    return entry


def list_audit(
    session: Session,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
    object_type: str | None = None,
    object_id: str | int | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEntry]:
    """Return a page of audit entries, newest first, filtered by object, actor or time."""
    statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if object_type is not None:
        statement = statement.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        statement = statement.where(AuditEntry.object_id == str(object_id))
    if actor_id is not None:
        statement = statement.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    return paginate(session, statement, offset, limit)
