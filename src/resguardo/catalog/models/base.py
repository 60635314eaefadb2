"""The declarative base of every catalog model, with a naming convention for constraints and indexes.

Named constraints make the migrations reproducible: the initial revision spells the same names, and
later revisions can drop or alter a constraint by name on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from resguardo.catalog._types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The base class of the catalog's models; its ``metadata`` is the whole schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        """Return the class and the primary key only: no field of a record ever reaches a log this way."""
        identity = getattr(self, "id", None)
        return f"<{type(self).__name__} id={identity}>"


class Timestamps:
    """Mixin: when a record was created and last changed (set by the catalog's functions)."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
