"""What the service backs up from, and to: client servers and repositories (with sealed secrets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from resguardo.catalog._types import JsonText, StrEnumType, UtcDateTime, enum_check
from resguardo.catalog.enums import ClientSecretName, SecretName, Transport
from resguardo.catalog.models.base import Base, Timestamps
from resguardo.catalog.models.people import NAME_LENGTH

DEFAULT_MAX_CONCURRENT_RUNS = 2
MAX_CONCURRENT_RUNS_LIMIT = 64
"""The most runs one repository may be given at once."""


class Client(Timestamps, Base):
    """A client server whose data is backed up, and how the service reaches it."""

    __tablename__ = "clients"
    __table_args__ = (enum_check("transport", Transport, "transport"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str] = mapped_column(String(64), default="")
    transport: Mapped[Transport] = mapped_column(StrEnumType(Transport, 8), default=Transport.SSH)
    notes: Mapped[str] = mapped_column(Text, default="")
    ssh_host_key: Mapped[str] = mapped_column(Text, default="", server_default="")
    database_url: Mapped[str] = mapped_column(String(1024), default="", server_default="")

    secrets: Mapped[list[ClientSecret]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ClientSecret.name"
    )
    test_report: Mapped[ClientTestReport | None] = relationship(
        cascade="all, delete-orphan", lazy="select", uselist=False
    )

    @property
    def secret_names(self) -> frozenset[ClientSecretName]:
        """Return which secrets are set (never their values)."""
        return frozenset(secret.name for secret in self.secrets)


class ClientSecret(Base):
    """One secret of a client server (its SSH key, the key's passphrase, a database password), sealed
    like :class:`RepositorySecret`: authenticated with the client's ID and the secret's name."""

    __tablename__ = "client_secrets"
    __table_args__ = (enum_check("name", ClientSecretName, "name"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[ClientSecretName] = mapped_column(StrEnumType(ClientSecretName, 32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)

    def __repr__(self) -> str:
        """Return which secret this is, never its value."""
        return f"<ClientSecret client_id={self.client_id} name={self.name}>"


class ClientTestReport(Base):
    """The last connectivity and feasibility test of a client: when, by whom, and its report (items
    and summary, which never hold a secret)."""

    __tablename__ = "client_test_reports"

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    tested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    tested_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    report: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)

    def __repr__(self) -> str:
        """Return whose report this is."""
        return f"<ClientTestReport client_id={self.client_id}>"


class Repository(Timestamps, Base):
    """A backup repository: where snapshots are stored (a directory, sftp:// or s3:// URL).

    ``options`` holds settings that are not secret (an S3 endpoint, a region, a known_hosts file);
    passphrases and credentials live sealed in :class:`RepositorySecret`. ``initialized_at`` says when
    the service created the repository in its storage (None: not yet, or created outside the service).
    ``max_concurrent_runs`` caps how many runs may back up into it at once (the claim of a run holds
    back one more; see :func:`resguardo.catalog.queries.claim_next_run`).
    """

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    url: Mapped[str] = mapped_column(String(1024))
    options: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    initialized_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    max_concurrent_runs: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_MAX_CONCURRENT_RUNS, server_default=str(DEFAULT_MAX_CONCURRENT_RUNS)
    )
    # Periodic verification (docs/verification.md): the scrub's schedule (None: weekly), the days in
    # which every pack is read once, the progress of the current cycle, and the last slot queued.
    verification_schedule: Mapped[dict[str, Any] | None] = mapped_column(JsonText)
    scrub_period_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    scrub_progress: Mapped[dict[str, Any] | None] = mapped_column(JsonText)
    verification_last_slot: Mapped[datetime | None] = mapped_column(UtcDateTime())

    secrets: Mapped[list[RepositorySecret]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RepositorySecret.name"
    )

    @property
    def secret_names(self) -> frozenset[SecretName]:
        """Return which secrets are set (never their values)."""
        return frozenset(secret.name for secret in self.secrets)


class RepositorySecret(Base):
    """One secret of a repository, sealed with AES-256-GCM under the catalog's secret key.

    ``sealed`` is nonce || ciphertext || tag, authenticated with the repository's ID and the secret's
    name, so that a sealed value copied to another row or name does not open. ``key_id`` names the key
    that sealed it (a fingerprint, not the key).
    """

    __tablename__ = "repository_secrets"
    __table_args__ = (enum_check("name", SecretName, "name"),)

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[SecretName] = mapped_column(StrEnumType(SecretName, 32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)

    def __repr__(self) -> str:
        """Return which secret this is, never its value."""
        return f"<RepositorySecret repository_id={self.repository_id} name={self.name}>"
