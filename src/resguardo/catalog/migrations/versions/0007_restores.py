"""Restores queued, run by workers and recorded like runs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

* ``restores``: one restore of databases or paths of a run's snapshot into a target, its state,
  worker, heartbeat, bytes restored, log and error, who asked for it and why (``request_id`` will
  name a restore request; no foreign key yet).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _foreign_key(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{table}.id"], name=op.f(f"fk_restores_{column}_{table}"), ondelete="SET NULL"
    )


def upgrade() -> None:
    """Add the ``restores`` table and its indexes."""
    op.create_table(
        "restores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("snapshot_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("overwrite", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bytes_restored", sa.BigInteger(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_restores_state"),
        ),
        sa.CheckConstraint("kind IN ('database', 'paths')", name=op.f("ck_restores_kind")),
        _foreign_key("run_id", "runs"),
        _foreign_key("job_id", "jobs"),
        _foreign_key("repository_id", "repositories"),
        _foreign_key("requested_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restores")),
    )
    op.create_index("ix_restores_claim", "restores", ["state", "id"], unique=False)
    op.create_index("ix_restores_queued_at_id", "restores", ["queued_at", "id"], unique=False)
    op.create_index("ix_restores_job_id", "restores", ["job_id"], unique=False)


def downgrade() -> None:
    """Remove the table (its indexes go with it)."""
    op.drop_table("restores")
