"""Periodic verifications (R13): scrubs of repositories and restore tests of jobs, and the database
servers restore tests restore into.

Every verification is a row of the register an auditor reads: what was verified, why, by whom, when,
how much was read or restored, the result and its evidence. The schedules, the scrub's progress through
its cycle and the last slots queued live on the repositories and jobs (see :mod:`.inventory`, :mod:`.plans`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from resguardo.catalog._types import JsonText, StrEnumType, UtcDateTime, enum_check
from resguardo.catalog.enums import VerificationKind, VerificationState, VerificationTrigger
from resguardo.catalog.models.base import Base
from resguardo.catalog.models.people import NAME_LENGTH

DEFAULT_VERIFICATION_SCHEDULE: dict[str, Any] = {
    "kind": "weekly",
    "weekdays": ["sunday"],
    "at": "03:00",
    "timezone": "UTC",
    "window": None,
}
"""A repository's scrub schedule until one is set: weekly, on Sundays at 03:00."""

DEFAULT_RESTORE_TEST_SCHEDULE: dict[str, Any] = {
    "kind": "monthly",
    "days": [1],
    "at": "04:00",
    "timezone": "UTC",
    "window": None,
}
"""A job's restore-test schedule until one is set: monthly, on the 1st at 04:00."""

DEFAULT_SCRUB_PERIOD_DAYS = 30
DEFAULT_RESTORE_TEST_SAMPLE_FILES = 1000


class Verification(Base):
    """One verification: a scrub of a repository or a restore test of a job's latest backup.

    ``subject`` (``repository:ID`` or ``job:ID``) with ``schedule_slot`` makes a scheduled slot queued
    once, whatever the number of schedulers. ``evidence`` says what was read or restored, how much,
    the result and the problems found; it never holds a secret.
    """

    __tablename__ = "verifications"
    __table_args__ = (
        enum_check("kind", VerificationKind, "kind"),
        enum_check("state", VerificationState, "state"),
        enum_check("trigger", VerificationTrigger, "trigger"),
        Index("uq_verifications_subject_schedule_slot", "subject", "schedule_slot", unique=True),
        Index("ix_verifications_state_id", "state", "id"),
        Index("ix_verifications_queued_at", "queued_at"),
        Index("ix_verifications_repository_id", "repository_id"),
        Index("ix_verifications_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[VerificationKind] = mapped_column(StrEnumType(VerificationKind, 16))
    subject: Mapped[str] = mapped_column(String(32))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[VerificationTrigger] = mapped_column(StrEnumType(VerificationTrigger, 16))
    requested_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    state: Mapped[VerificationState] = mapped_column(
        StrEnumType(VerificationState, 16), default=VerificationState.QUEUED
    )
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    schedule_slot: Mapped[datetime | None] = mapped_column(UtcDateTime())
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    packs_read: Mapped[int] = mapped_column(BigInteger, default=0)
    files_restored: Mapped[int] = mapped_column(BigInteger, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")


class RestoreTestServer(Base):
    """The database server restore tests of one kind (``postgresql``, ``mysql``) restore into.

    ``url`` holds no password; the password is sealed like the client secrets (nonce || ciphertext ||
    tag under the catalog's key, bound to the kind), or empty when the server needs none.
    """

    __tablename__ = "restore_test_servers"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    url: Mapped[str] = mapped_column(String(1024))
    key_id: Mapped[str] = mapped_column(String(16), default="")
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")

    def __repr__(self) -> str:
        """Return which server this is, never its password."""
        return f"<RestoreTestServer kind={self.kind}>"
