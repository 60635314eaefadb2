"""A limit of concurrent runs per repository.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

* ``repositories``: ``max_concurrent_runs``, how many runs may back up into the repository at once
  (2 by default, 1 to 64); the claim of a run leaves a run queued while its repository has that many
  running.

The column has a server default, so ``ADD COLUMN`` works on SQLite without rebuilding the table, and
existing repositories get the default.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column."""
    op.add_column(
        "repositories",
        sa.Column("max_concurrent_runs", sa.Integer(), server_default="2", nullable=False),
    )


def downgrade() -> None:
    """Remove it again.

    A plain ``DROP COLUMN`` (SQLite has it since 3.35): copying the table, as batch mode does, would
    drop a table that jobs refer to, which SQLite's foreign key checks refuse.
    """
    op.drop_column("repositories", "max_concurrent_runs")
