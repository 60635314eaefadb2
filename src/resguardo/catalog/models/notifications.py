"""The e-mail outbox and the settings of the service's SMTP server (R7).

Every message is written to ``notifications`` in the transaction of the event that causes it (a run
that failed, say) and sent later by a sender (``resguardo.notify``); ``notification_settings`` holds
the one row of SMTP settings, its password sealed with the catalog's key like repository secrets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from resguardo.catalog._types import JsonText, StrEnumType, UtcDateTime, enum_check
from resguardo.catalog.enums import Language, NotificationState, SmtpSecurity
from resguardo.catalog.models.base import Base, Timestamps

SETTINGS_ROW = 1
"""The primary key of the one row of ``notification_settings``."""
DEFAULT_SMTP_PORT = 587
DEFAULT_FAILURE_WINDOW_HOURS = 6
DEFAULT_MAX_ATTEMPTS = 6


class NotificationSettings(Timestamps, Base):
    """The SMTP server, the sender address, and how notifications behave (one row, ``id`` 1).

    ``password_sealed`` is the SMTP password sealed under the key ``password_key_id`` (never shown).
    ``console_url`` is the console's address that messages link to; ``failure_window_hours`` is the
    least time between two failure messages of one job; ``max_attempts`` how often a message is tried.
    """

    __tablename__ = "notification_settings"
    __table_args__ = (enum_check("smtp_security", SmtpSecurity, "smtp_security"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=DEFAULT_SMTP_PORT)
    smtp_security: Mapped[SmtpSecurity] = mapped_column(
        StrEnumType(SmtpSecurity, 16), default=SmtpSecurity.STARTTLS
    )
    smtp_username: Mapped[str] = mapped_column(String(255), default="")
    password_key_id: Mapped[str | None] = mapped_column(String(16))
    password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sender: Mapped[str] = mapped_column(String(254), default="")
    console_url: Mapped[str] = mapped_column(String(1024), default="")
    failure_window_hours: Mapped[int] = mapped_column(Integer, default=DEFAULT_FAILURE_WINDOW_HOURS)
    notify_recovery: Mapped[bool] = mapped_column(Boolean, default=True)
    max_attempts: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_ATTEMPTS)


class Notification(Base):
    """One e-mail of the outbox: to whom, in which language, rendered, and how its sending went.

    A queued message is tried when ``next_attempt_at`` has come; a sender claims it by moving
    ``next_attempt_at`` forward and counting the attempt in one conditional UPDATE, so two senders
    never try it at once, and one that dies mid-way leaves it to be tried again (maybe twice sent,
    never lost).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        enum_check("state", NotificationState, "state"),
        enum_check("language", Language, "language"),
        Index("ix_notifications_due", "state", "next_attempt_at", "id"),
        Index("ix_notifications_job_id_event_created_at", "job_id", "event", "created_at"),
        Index("ix_notifications_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    language: Mapped[Language] = mapped_column(StrEnumType(Language, 2))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JsonText)
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[NotificationState] = mapped_column(
        StrEnumType(NotificationState, 16), default=NotificationState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
