"""The append-only audit log: who did what to which object, when, with the object before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from resguardo.catalog._types import JsonText, UtcDateTime
from resguardo.catalog.models.base import Base


class AuditEntry(Base):
    """One action recorded for good. The actor is kept by ID and name, not by a foreign key, so that
    removing a user never changes the log; the database refuses UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonText)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonText)
