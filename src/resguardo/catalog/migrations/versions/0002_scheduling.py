"""The scheduler's and the worker's bookkeeping: slots of runs, run-now requests, initialized repositories.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

* ``jobs``: ``schedule_since``, ``last_scheduled_slot``, ``run_now_requested_at`` (the scheduler's
  state of a job) and ``plan_version``, bumped by every change of them, so that a scheduler pass queues
  a run only if the job did not change since it read it.
* ``runs``: ``scheduled_for`` and ``schedule_slot``, with a unique index on ``(job_id, schedule_slot)``:
  a slot is queued once, however many schedulers run.
* ``repositories``: ``initialized_at``, when the service created the repository in its storage.

Every new column is nullable or has a server default, so ``ADD COLUMN`` works on SQLite without
rebuilding the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and the index."""
    op.add_column("jobs", sa.Column("schedule_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("last_scheduled_slot", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("run_now_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("plan_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("runs", sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("schedule_slot", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_runs_job_id_schedule_slot", "runs", ["job_id", "schedule_slot"], unique=True)
    op.add_column("repositories", sa.Column("initialized_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Remove them again, with plain ``DROP COLUMN`` (SQLite has it since 3.35): copying a table, as batch
    mode does, would drop a table that other rows refer to, which SQLite's foreign key checks refuse."""
    op.drop_column("repositories", "initialized_at")
    op.drop_index("uq_runs_job_id_schedule_slot", table_name="runs")
    for column in ("schedule_slot", "scheduled_for"):
        op.drop_column("runs", column)
    for column in ("plan_version", "run_now_requested_at", "last_scheduled_slot", "schedule_since"):
        op.drop_column("jobs", column)
