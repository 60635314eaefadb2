"""Restores: a snapshot of a run (databases or paths) brought back by a worker, queued like a run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from resguardo.catalog._types import JsonText, StrEnumType, UtcDateTime, enum_check
from resguardo.catalog.enums import RestoreKind, RestoreState
from resguardo.catalog.models.base import Base


class Restore(Base):
    """One restore: what (``kind`` and ``items`` of the snapshot ``snapshot_id`` of run ``run_id``), where
    (``target``), who asked and why, and how it went (state, worker, heartbeat, bytes, log, error).

    ``target`` is, for databases, ``{"client_id": N, "databases": {"source": "target name"}}`` or
    ``{"sqlite_path": "/path"}``; for paths, ``{"folder": "/path"}`` on the backup server.
    ``request_id`` will name the restore request this restore answers (no foreign key yet).
    ``alternative``, set when the restore failed because the data it needs is damaged, is the intact
    copy of the same snapshot in another repository (``repository_id``, ``repository_name``,
    ``snapshot_id``) that a person may restore from instead (None: none found).
    """

    __tablename__ = "restores"
    __table_args__ = (
        enum_check("state", RestoreState, "state"),
        enum_check("kind", RestoreKind, "kind"),
        Index("ix_restores_claim", "state", "id"),
        Index("ix_restores_queued_at_id", "queued_at", "id"),
        Index("ix_restores_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id", ondelete="SET NULL"))
    snapshot_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[RestoreKind] = mapped_column(StrEnumType(RestoreKind, 16))
    items: Mapped[Any] = mapped_column(JsonText())
    target: Mapped[Any] = mapped_column(JsonText())
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[RestoreState] = mapped_column(StrEnumType(RestoreState, 16), default=RestoreState.QUEUED)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    bytes_restored: Mapped[int] = mapped_column(BigInteger, default=0)
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    alternative: Mapped[dict[str, Any] | None] = mapped_column(JsonText())
