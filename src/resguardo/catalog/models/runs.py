"""Runs of jobs, and the failure log that failed runs open and successful re-runs close (R11, R18)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from resguardo.catalog._types import JsonText, StrEnumType, UtcDateTime, enum_check
from resguardo.catalog.enums import RunState, RunTrigger, Verification
from resguardo.catalog.models.base import Base
from resguardo.catalog.models.plans import Job

ONE_RUNNING_PER_JOB = "state = 'running'"


class Run(Base):
    """One execution of a job: queued, claimed by a worker, then finished in one of four states.

    A queued run is not claimed before ``not_before`` (the backoff of a retry). A running run's
    worker writes ``heartbeat_at`` regularly; a run whose heartbeat stops is failed and retried.
    ``scheduled_for`` is the slot a scheduled run stands for (or when "run now" was asked);
    ``schedule_slot`` the slot it took, unique per job (NULL for manual runs without one, and retries).
    ``verification`` is the verdict on the backup it made (R12), ``verification_reasons`` why (a list
    of ``{"code", "message", "figures"}``), ``verification_figures`` what the next run compares with.
    """

    __tablename__ = "runs"
    __table_args__ = (
        enum_check("state", RunState, "state"),
        enum_check("trigger", RunTrigger, "trigger"),
        enum_check("verification", Verification, "verification"),
        # The claim query: queued runs, due, oldest first.
        Index("ix_runs_claim", "state", "not_before", "id"),
        Index("ix_runs_job_id_queued_at", "job_id", "queued_at"),
        # The run list, newest first, and the dashboard's last days.
        Index("ix_runs_queued_at_id", "queued_at", "id"),
        Index("ix_runs_finished_at", "finished_at"),
        # A slot of a job's schedule is queued once, whatever the number of schedulers.
        Index("uq_runs_job_id_schedule_slot", "job_id", "schedule_slot", unique=True),
        # At most one running run per job, enforced by the database itself.
        Index(
            "uq_runs_one_running_per_job",
            "job_id",
            unique=True,
            sqlite_where=text(ONE_RUNNING_PER_JOB),
            postgresql_where=text(ONE_RUNNING_PER_JOB),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    state: Mapped[RunState] = mapped_column(StrEnumType(RunState, 16), default=RunState.QUEUED)
    trigger: Mapped[RunTrigger] = mapped_column(StrEnumType(RunTrigger, 16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime())
    schedule_slot: Mapped[datetime | None] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_added: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    verification: Mapped[Verification] = mapped_column(
        StrEnumType(Verification, 16), default=Verification.NOT_VERIFIED, server_default="not_verified"
    )
    verification_reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonText)
    verification_figures: Mapped[dict[str, Any] | None] = mapped_column(JsonText)
    # Set by a scrub or restore test that found this run's snapshot damaged (docs/verification.md).
    damaged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    damage: Mapped[str] = mapped_column(Text, default="", server_default="")

    job: Mapped[Job] = relationship(lazy="raise")


class FailureEntry(Base):
    """An entry of the failure log (R18): opened by a failed run, closed by the next success of its job.

    The error is recorded when the entry opens; a person fills in the cause, the analysis and the
    corrective action (``recorded_by_id``, ``recorded_at``).
    """

    __tablename__ = "failure_entries"
    __table_args__ = (Index("ix_failure_entries_job_id_closed_at", "job_id", "closed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    error: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(Text, default="")
    analysis: Mapped[str] = mapped_column(Text, default="")
    corrective_action: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
