"""What is backed up, when and for how long: data categories (with defaults) and jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from resguardo.catalog._types import JsonText, UtcDateTime
from resguardo.catalog.models.base import Base, Timestamps
from resguardo.catalog.models.inventory import Client, Repository
from resguardo.catalog.models.people import NAME_LENGTH, User

MINIMUM_RECORDS_KEEP_DAYS = 365
"""Run records, failure entries and the audit log of a job are kept at least a year (R21)."""


class Category(Timestamps, Base):
    """A data category (databases, source code, ...) with its default schedule and retention (R8).

    ``register`` names the paper register the category's backups are recorded in (R17), e.g.
    ``DSE 03`` for databases. Schedules and retention are documents validated by
    :mod:`resguardo.schedules` and :mod:`resguardo.catalog.retention`.
    """

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    title_es: Mapped[str] = mapped_column(String(NAME_LENGTH))
    title_en: Mapped[str] = mapped_column(String(NAME_LENGTH))
    register: Mapped[str] = mapped_column(String(32), default="")
    default_schedule: Mapped[dict[str, Any]] = mapped_column(JsonText)
    default_retention: Mapped[dict[str, Any]] = mapped_column(JsonText)
    # The verification thresholds of its jobs (R12); a job may override each (docs/service.md).
    size_change_percent: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    file_count_change_percent: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    unchanged_dump_days: Mapped[int] = mapped_column(Integer, default=3, server_default="3")


class Job(Timestamps, Base):
    """A backup job: a source on a client, saved to a repository, on a schedule, kept by a retention.

    ``source`` describes what to read (its shape comes with the sources); ``schedule`` and
    ``retention`` start as the category's defaults. ``records_keep_days`` (at least 365) says how long
    the job's runs and failure entries are kept in the catalog, whatever the snapshot retention.

    The scheduler keeps its state here: ``schedule_since`` (when the schedule took effect; None: the
    job's creation), ``last_scheduled_slot`` (the slot of the latest run it queued),
    ``run_now_requested_at`` (an unanswered "run now") and ``plan_version``, which every change of
    these bumps, so that a scheduler pass queues a run only if nothing changed since it read the job
    (two schedulers running at once never queue the same slot twice).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"records_keep_days >= {MINIMUM_RECORDS_KEEP_DAYS}", name="records_keep_days"),
        CheckConstraint("max_retries >= 0", name="max_retries"),
        CheckConstraint("retry_backoff_seconds >= 0", name="retry_backoff_seconds"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"), index=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="RESTRICT"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"), index=True)
    schedule: Mapped[dict[str, Any]] = mapped_column(JsonText)
    retention: Mapped[dict[str, Any]] = mapped_column(JsonText)
    records_keep_days: Mapped[int] = mapped_column(Integer, default=MINIMUM_RECORDS_KEEP_DAYS)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer, default=300)
    # The scheduler's bookkeeping (docs/scheduling.md, "For the catalog"):
    schedule_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_scheduled_slot: Mapped[datetime | None] = mapped_column(UtcDateTime())
    run_now_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    plan_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Verification thresholds overriding the category's (None: the category's).
    size_change_percent: Mapped[int | None] = mapped_column(Integer)
    file_count_change_percent: Mapped[int | None] = mapped_column(Integer)
    unchanged_dump_days: Mapped[int | None] = mapped_column(Integer)
    # Restore tests (docs/verification.md): their schedule (None: monthly), how many files a large
    # snapshot's test restores, and the last slot queued.
    restore_test_schedule: Mapped[dict[str, Any] | None] = mapped_column(JsonText)
    restore_test_sample_files: Mapped[int] = mapped_column(Integer, default=1000, server_default="1000")
    restore_test_last_slot: Mapped[datetime | None] = mapped_column(UtcDateTime())

    client: Mapped[Client] = relationship(lazy="joined")
    repository: Mapped[Repository] = relationship(lazy="joined")
    category: Mapped[Category] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(lazy="joined")
