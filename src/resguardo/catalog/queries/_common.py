"""What every query module shares: pages of results, lookups that fail clearly, unique names, changes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from resguardo.catalog.models import Base
from resguardo.core.errors import Conflict, NotFound, UsageError

ModelT = TypeVar("ModelT", bound=Base)
ItemT = TypeVar("ItemT")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of a listing: its items, the number of matches in all, and where the page starts."""

    items: list[ItemT]
    total: int
    offset: int
    limit: int


def check_page(offset: int, limit: int) -> None:
    """Check pagination arguments.

    Raises:
        UsageError: ``offset`` is negative, or ``limit`` is not between 1 and :data:`MAX_PAGE_SIZE`.
    """
    if offset < 0:
        raise UsageError(f"the offset of a page must be 0 or more, not {offset}")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise UsageError(f"the size of a page must be from 1 to {MAX_PAGE_SIZE}, not {limit}")


def paginate(session: Session, statement: Select[ModelT], offset: int, limit: int) -> Page[ModelT]:
    """Return one page of ``statement``'s results (which must be ordered) and the total count.

    Raises:
        UsageError: bad pagination arguments (see :func:`check_page`).
    """
    check_page(offset, limit)
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    items = list(session.scalars(statement.offset(offset).limit(limit)).unique())
    return Page(items=items, total=total, offset=offset, limit=limit)


def get_or_raise(session: Session, model: type[ModelT], identity: int, what: str) -> ModelT:
    """Return the ``model`` record with primary key ``identity``.

    Raises:
        NotFound: there is none; the message names ``what`` it is (e.g. "client").
    """
    record = session.get(model, identity)
    if record is None:
        raise NotFound(f"no {what} has the ID {identity}", f"list the {what}s to find the right ID")
    return record


def get_by_name_or_raise(
    session: Session, model: type[ModelT], column: InstrumentedAttribute[str], name: str, what: str
) -> ModelT:
    """Return the ``model`` record whose ``column`` is ``name``.

    Raises:
        NotFound: there is none.
    """
    record = session.scalars(select(model).where(column == name)).first()
    if record is None:
        raise NotFound(f"no {what} is named {name!r}", f"list the {what}s to find the right name")
    return record


def ensure_name_free(  # noqa: PLR0917 (each argument names a part of what is checked)
    session: Session,
    model: type[ModelT],
    column: InstrumentedAttribute[str],
    name: str,
    what: str,
    exclude_id: int | None = None,
) -> None:
    """Check that no other ``model`` record has ``name`` in ``column``.

    Raises:
        Conflict: the name is taken.
        UsageError: the name is empty.
    """
    if not name.strip():
        raise UsageError(f"a {what} needs a name")
    statement = select(model).where(column == name)
    found = session.scalars(statement).first()
    if found is not None and getattr(found, "id", None) != exclude_id:
        raise Conflict(f"a {what} named {name!r} exists already", f"choose another name for the {what}")


def flush_or_conflict(session: Session, what: str, name: str) -> None:
    """Flush the session; turn a unique-constraint failure (a race with another writer) into Conflict.

    Raises:
        Conflict: another record took the name first; the session must then be rolled back.
    """
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(
            f"the {what} {name!r} clashes with a record of the catalog: {error.orig}",
            "reload and try again with another name",
        ) from None


def apply_changes(record: Base, changes: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    """Set the attributes named in ``changes`` on ``record``.

    Raises:
        UsageError: a field is not one that may be changed.
    """
    permitted = set(allowed)
    unknown = sorted(set(changes) - permitted)
    if unknown:
        raise UsageError(
            f"a {what} has no changeable field {', '.join(unknown)}",
            f"the fields are: {', '.join(sorted(permitted))}",
        )
    for field, value in changes.items():
        setattr(record, field, value)


def touch(record: Any, now: datetime, *, created: bool = False) -> None:
    """Set ``updated_at`` (and ``created_at`` when ``created``) of ``record`` to ``now``."""
    if created:
        record.created_at = now
    record.updated_at = now


@contextmanager
def reverting_on_error(session: Session, record: Base) -> Iterator[None]:
    """Within the block, do not flush early; if the block raises, undo the unsaved changes of ``record``."""
    try:
        with session.no_autoflush:
            yield
    except BaseException:
        session.expire(record)
        raise
