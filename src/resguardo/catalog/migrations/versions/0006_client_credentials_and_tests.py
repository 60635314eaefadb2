"""Client credentials sealed like repository secrets, and the last connectivity test of each client.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

* ``clients``: ``ssh_host_key`` (the server's public host key, the only one trusted) and
  ``database_url`` (where its database server is, without a password); both default to empty text.
* ``client_secrets``: the client's sealed SSH private key, the key's passphrase and its database
  password (AES-256-GCM under the catalog's key, as ``repository_secrets``).
* ``client_test_reports``: the last connectivity and feasibility test of a client (when, by whom, the
  report).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and the two tables."""
    op.add_column("clients", sa.Column("ssh_host_key", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "clients", sa.Column("database_url", sa.String(length=1024), server_default="", nullable=False)
    )
    op.create_table(
        "client_secrets",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "name IN ('ssh_private_key', 'ssh_key_passphrase', 'database_password')",
            name=op.f("ck_client_secrets_name"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_secrets_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "name", name=op.f("pk_client_secrets")),
    )
    op.create_table(
        "client_test_reports",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tested_by", sa.String(length=120), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_test_reports_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_test_reports")),
    )


def downgrade() -> None:
    """Remove them again, with plain ``DROP`` statements (see revision 0004 on batch mode)."""
    op.drop_table("client_test_reports")
    op.drop_table("client_secrets")
    op.drop_column("clients", "database_url")
    op.drop_column("clients", "ssh_host_key")
