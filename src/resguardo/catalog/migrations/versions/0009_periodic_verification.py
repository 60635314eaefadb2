"""Periodic verification: the register of scrubs and restore tests, their schedules and progress.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

* ``verifications``: one row per scrub of a repository or restore test of a job (the register).
* ``restore_test_servers``: per database kind, the server restore tests restore into (password sealed).
* ``repositories``: ``verification_schedule`` (NULL: weekly), ``scrub_period_days`` (30),
  ``scrub_progress`` (the current cycle), ``verification_last_slot``.
* ``jobs``: ``restore_test_schedule`` (NULL: monthly), ``restore_test_sample_files`` (1000),
  ``restore_test_last_slot``.
* ``runs``: ``damaged_at`` and ``damage``, set when a verification finds the run's snapshot damaged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two tables and the columns."""
    _create_verifications()
    op.create_table(
        "restore_test_servers",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_restore_test_servers")),
    )
    op.add_column("repositories", sa.Column("verification_schedule", sa.Text(), nullable=True))
    op.add_column(
        "repositories", sa.Column("scrub_period_days", sa.Integer(), server_default="30", nullable=False)
    )
    op.add_column("repositories", sa.Column("scrub_progress", sa.Text(), nullable=True))
    op.add_column(
        "repositories", sa.Column("verification_last_slot", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("jobs", sa.Column("restore_test_schedule", sa.Text(), nullable=True))
    op.add_column(
        "jobs", sa.Column("restore_test_sample_files", sa.Integer(), server_default="1000", nullable=False)
    )
    op.add_column("jobs", sa.Column("restore_test_last_slot", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("damaged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("damage", sa.Text(), server_default="", nullable=False))


def _create_verifications() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("snapshot_id", sa.String(length=64), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("schedule_slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("packs_read", sa.BigInteger(), nullable=False),
        sa.Column("files_restored", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('scrub', 'restore_test')", name=op.f("ck_verifications_kind")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'passed', 'warnings', 'failed')",
            name=op.f("ck_verifications_state"),
        ),
        sa.CheckConstraint("trigger IN ('schedule', 'manual')", name=op.f("ck_verifications_trigger")),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_verifications_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_verifications_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_verifications_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
    )
    op.create_index(
        "uq_verifications_subject_schedule_slot", "verifications", ["subject", "schedule_slot"], unique=True
    )
    op.create_index("ix_verifications_state_id", "verifications", ["state", "id"])
    op.create_index("ix_verifications_queued_at", "verifications", ["queued_at"])
    op.create_index("ix_verifications_repository_id", "verifications", ["repository_id"])
    op.create_index("ix_verifications_job_id", "verifications", ["job_id"])


def downgrade() -> None:
    """Remove them again, with plain ``DROP`` statements (see revision 0004 on batch mode)."""
    for table, column in (
        ("runs", "damage"),
        ("runs", "damaged_at"),
        ("jobs", "restore_test_last_slot"),
        ("jobs", "restore_test_sample_files"),
        ("jobs", "restore_test_schedule"),
        ("repositories", "verification_last_slot"),
        ("repositories", "scrub_progress"),
        ("repositories", "scrub_period_days"),
        ("repositories", "verification_schedule"),
    ):
        op.drop_column(table, column)
    op.drop_table("restore_test_servers")
    op.drop_table("verifications")
