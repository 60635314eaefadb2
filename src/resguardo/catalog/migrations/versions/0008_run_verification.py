"""The verification of every backup when its run ends (R12): thresholds, and each run's verdict.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14

* ``categories``: ``size_change_percent``, ``file_count_change_percent`` and ``unchanged_dump_days``,
  the thresholds of the comparison with a job's last successful run, seeded per category (below).
* ``jobs``: the same three columns, nullable: a job's own threshold, or NULL for its category's.
* ``runs``: ``verification`` (``verified``, ``warnings``, ``failed``, ``not_verified``; existing runs
  are ``not_verified``), ``verification_reasons`` (JSON list) and ``verification_figures`` (JSON map).

Every column is added with ``ADD COLUMN`` (a server default where NOT NULL), which SQLite does without
rebuilding the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

THRESHOLD_COLUMNS = ("size_change_percent", "file_count_change_percent", "unchanged_dump_days")

# category: (size change %, file count change %, days a dump may stay identical)
CATEGORY_THRESHOLDS = {
    "databases": (30, 30, 3),
    "source-code": (30, 30, 3),
    "server-configuration": (50, 50, 3),
    "images": (50, 50, 3),
    "documents": (30, 30, 3),
    "web-publishing": (50, 50, 3),
}
VERIFICATIONS = "verification IN ('verified', 'warnings', 'failed', 'not_verified')"


def upgrade() -> None:
    """Add the columns and seed the categories' thresholds."""
    defaults = {"size_change_percent": "30", "file_count_change_percent": "30", "unchanged_dump_days": "3"}
    for column in THRESHOLD_COLUMNS:
        op.add_column(
            "categories", sa.Column(column, sa.Integer(), server_default=defaults[column], nullable=False)
        )
        op.add_column("jobs", sa.Column(column, sa.Integer(), nullable=True))
    op.add_column(
        "runs",
        sa.Column(
            "verification",
            sa.String(length=16),
            sa.CheckConstraint(VERIFICATIONS, name="ck_runs_verification"),
            server_default="not_verified",
            nullable=False,
        ),
    )
    op.add_column("runs", sa.Column("verification_reasons", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("verification_figures", sa.Text(), nullable=True))
    categories = sa.table(
        "categories",
        sa.column("name", sa.String),
        *(sa.column(name, sa.Integer) for name in THRESHOLD_COLUMNS),
    )
    for name, values in CATEGORY_THRESHOLDS.items():
        op.execute(
            categories.update()
            .where(categories.c.name == name)
            .values(dict(zip(THRESHOLD_COLUMNS, values, strict=True)))
        )


def downgrade() -> None:
    """Remove them again (plain ``DROP COLUMN``: see 0004 for why not batch mode)."""
    for column in ("verification_figures", "verification_reasons", "verification"):
        op.drop_column("runs", column)
    for column in reversed(THRESHOLD_COLUMNS):
        op.drop_column("jobs", column)
        op.drop_column("categories", column)
