"""Departments, users with their roles, and the API tokens scripts log in with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from resguardo.catalog._types import StrEnumType, UtcDateTime, enum_check
from resguardo.catalog.enums import Language, Role
from resguardo.catalog.models.base import Base, Timestamps

NAME_LENGTH = 120


class Department(Timestamps, Base):
    """A department (area) of the institution; area directors approve its requests."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class User(Timestamps, Base):
    """A person who logs in to the service. The password is kept as an Argon2id hash (PHC string).

    ``notify_failures``: whether an operator or administrator with an e-mail address receives the
    messages about failed runs.
    """

    __tablename__ = "users"
    __table_args__ = (enum_check("language", Language, "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    language: Mapped[Language] = mapped_column(StrEnumType(Language, 2), default=Language.SPANISH)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_failures: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    department: Mapped[Department | None] = relationship(lazy="joined")
    role_grants: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )

    @property
    def roles(self) -> frozenset[Role]:
        """Return the roles the user holds."""
        return frozenset(grant.role for grant in self.role_grants)


class UserRole(Base):
    """One role held by one user."""

    __tablename__ = "user_roles"
    __table_args__ = (enum_check("role", Role, "role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 32), primary_key=True)


class ApiToken(Base):
    """A token a script presents to the API. Only its SHA-256 is stored; its first characters are shown."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
