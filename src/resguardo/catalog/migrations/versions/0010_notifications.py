"""E-mail notifications: the SMTP settings, the outbox, and each user's choice about failure messages.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

* ``notification_settings``: one row (``id`` 1) with the SMTP server, its sealed password, the sender
  address, the console's address for links, and the limits (failure window, attempts).
* ``notifications``: the outbox; every message with its recipient, language, rendered text, state
  (queued, sent, failed), attempts, next attempt, last error and times.
* ``users.notify_failures``: whether the user receives the messages about failed runs (true).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _settings_table() -> None:
    op.create_table(
        "notification_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("smtp_host", sa.String(length=255), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("smtp_security", sa.String(length=16), nullable=False),
        sa.Column("smtp_username", sa.String(length=255), nullable=False),
        sa.Column("password_key_id", sa.String(length=16), nullable=True),
        sa.Column("password_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("sender", sa.String(length=254), nullable=False),
        sa.Column("console_url", sa.String(length=1024), nullable=False),
        sa.Column("failure_window_hours", sa.Integer(), nullable=False),
        sa.Column("notify_recovery", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "smtp_security IN ('starttls', 'tls', 'none')",
            name=op.f("ck_notification_settings_smtp_security"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_settings")),
    )


def _outbox_table() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'sent', 'failed')", name=op.f("ck_notifications_state")),
        sa.CheckConstraint("language IN ('es', 'en')", name=op.f("ck_notifications_language")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_notifications_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_notifications_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_due", "notifications", ["state", "next_attempt_at", "id"])
    op.create_index(
        "ix_notifications_job_id_event_created_at", "notifications", ["job_id", "event", "created_at"]
    )
    op.create_index("ix_notifications_created_at_id", "notifications", ["created_at", "id"])


def upgrade() -> None:
    """Add the two tables and the user's column."""
    _settings_table()
    _outbox_table()
    op.add_column(
        "users", sa.Column("notify_failures", sa.Boolean(), server_default=sa.true(), nullable=False)
    )


def downgrade() -> None:
    """Remove them again, with plain ``DROP`` statements (see revision 0004 on batch mode)."""
    op.drop_column("users", "notify_failures")
    op.drop_index("ix_notifications_created_at_id", table_name="notifications")
    op.drop_index("ix_notifications_job_id_event_created_at", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_settings")
