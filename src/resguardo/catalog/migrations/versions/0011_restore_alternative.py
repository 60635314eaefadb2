"""The copy a failed restore offers instead (R23): ``restores.alternative``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

* ``restores``: ``alternative`` (JSON, NULL: none), set when a restore's data check failed and the same
  snapshot was found intact in another repository of the catalog: ``repository_id``,
  ``repository_name`` and ``snapshot_id`` of that copy (docs/restores.md).

Added with ``ADD COLUMN``, which SQLite does without rebuilding the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column."""
    op.add_column("restores", sa.Column("alternative", sa.Text(), nullable=True))


def downgrade() -> None:
    """Remove it again (plain ``DROP COLUMN``: see 0004 for why not batch mode)."""
    op.drop_column("restores", "alternative")
