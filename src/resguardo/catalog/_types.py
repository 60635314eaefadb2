"""Column types shared by the catalog's models: UTC timestamps, string enumerations, JSON text.

The same types behave alike on SQLite and PostgreSQL: timestamps are stored in UTC (``timestamptz`` on
PostgreSQL; naive UTC text on SQLite, which keeps comparisons in SQL right) and always come back
timezone-aware; enumerations are short strings guarded by a CHECK constraint; structured values
(schedules, retention, sources, audit snapshots) are JSON text, so that no database-specific JSON
operators creep in.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import CheckConstraint, DateTime, Dialect, String, Text
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=enum.StrEnum)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware moment, stored in UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert a moment to UTC (naive UTC on SQLite) for storage.

        Raises:
            ValueError: the moment has no time zone.
        """
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the catalog stores timezone-aware moments only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored moment, timezone-aware in UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[E]):
    """A :class:`enum.StrEnum` stored as its string value (a VARCHAR; see :func:`enum_check`).

    Args:
        enum_class: the enumeration.
        length: the column's length (the longest value must fit).
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        """Return the value's string, checking that it belongs to the enumeration."""
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        """Return the enumeration member of a stored string."""
        return None if value is None else self.enum_class(value)


def enum_check(column: str, enum_class: type[enum.StrEnum], name: str) -> CheckConstraint:
    """Return a CHECK constraint keeping ``column`` to the values of ``enum_class``."""
    values = ", ".join(f"'{member.value}'" for member in enum_class)
    return CheckConstraint(f"{column} IN ({values})", name=name)


class JsonText(TypeDecorator[Any]):
    """A JSON document stored as text (keys sorted, so equal documents are equal strings)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Return the document as JSON text."""
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Return the document parsed from its JSON text."""
        return None if value is None else json.loads(value)
