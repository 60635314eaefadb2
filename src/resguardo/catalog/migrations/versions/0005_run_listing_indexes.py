"""Indexes for the run lists and the dashboard as the catalog grows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

* ``ix_runs_finished_at``: the dashboard's figures of the last days read only the runs that finished
  in them;
* ``ix_runs_queued_at_id``: the run list (newest first) reads its page without sorting every run.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the indexes."""
    op.create_index("ix_runs_finished_at", "runs", ["finished_at"], unique=False)
    op.create_index("ix_runs_queued_at_id", "runs", ["queued_at", "id"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_runs_queued_at_id", table_name="runs")
    op.drop_index("ix_runs_finished_at", table_name="runs")
