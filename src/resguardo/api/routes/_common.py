"""What the endpoint modules share: input model base, field types, pagination, audit, field naming."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from resguardo.api.auth import Principal
from resguardo.api.context import context_of
from resguardo.api.errors import FieldError
from resguardo.catalog.models import Base
from resguardo.catalog.queries import MAX_PAGE_SIZE, Page, record_audit
from resguardo.core.errors import ConfigurationError, UsageError

ItemT = TypeVar("ItemT")
DATABASE_INTEGER_MAX = 2**31 - 1
NAME_LENGTH = 120


class Input(BaseModel):
    """Base of every request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text cannot contain NUL characters")
    return value


Text = Annotated[str, Field(max_length=10_000), AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(max_length=255), AfterValidator(_no_nul)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH), AfterValidator(_no_nul)]
Identifier = Annotated[int, Field(ge=1, le=DATABASE_INTEGER_MAX)]
Count = Annotated[int, Field(ge=0, le=DATABASE_INTEGER_MAX)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")]
Offset = Annotated[int, Query(ge=0, le=DATABASE_INTEGER_MAX, description="items to skip")]
NameFilter = Annotated[str, Query(max_length=NAME_LENGTH, description="part of the name")]
IdFilter = Annotated[int | None, Query(ge=1, le=DATABASE_INTEGER_MAX)]


def checked_by(check: Callable[[Any], Any]) -> AfterValidator:
    """Return a validator running a catalog check (e.g. of a schedule) whose error becomes a field error."""

    def validate(value: Any) -> Any:
        if value is None:
            return value
        try:
            return check(value)
        except (UsageError, ConfigurationError) as error:
            part = getattr(error, "field", None)  # a schedule's field at fault; "schedule": all of it
            raise FieldError(error.message, None if part == "schedule" else part) from None

    return AfterValidator(validate)


def page_of(page: Page[ItemT], render: Callable[[ItemT], dict[str, Any]]) -> dict[str, Any]:
    """Return a page of records as the JSON of a list endpoint."""
    return {
        "items": [render(item) for item in page.items],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
    }


def now_of(request: Request) -> datetime:
    """Return the current time of the application's clock."""
    return context_of(request).now()


def audit(  # noqa: PLR0917 (each argument names a part of the entry)
    session: Session,
    request: Request,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append an entry for a change ``principal`` made to the audit log (the caller commits)."""
    record_audit(
        session,
        now=now_of(request),
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor=principal.user,
        before=before,
        after=after,
    )


def changes_of(body: BaseModel, leave_out: Iterable[str] = (), *, by_alias: bool = False) -> dict[str, Any]:
    """Return the fields a PATCH body sets (those sent), minus ``leave_out``; ``by_alias`` names them
    as the request does."""
    skipped = set(leave_out)
    sent = body.model_dump(exclude_unset=True, by_alias=by_alias)
    return {name: value for name, value in sent.items() if name not in skipped}


@contextmanager
def naming_fields(fields: Iterable[str]) -> Iterator[None]:
    """Within the block, tag a catalog UsageError or ConfigurationError with the field its message names."""
    try:
        yield
    except (UsageError, ConfigurationError) as error:
        if getattr(error, "api_field", None):
            raise  # the catalog named the field already
        message = error.message.lower()
        for field in fields:
            if field in message or field.replace("_", " ") in message:
                setattr(error, "api_field", field)  # noqa: B010 (an attribute the error handler reads)
                break
        raise


def snapshot_with(record: Base, snapshot: Callable[[Base], dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Return ``snapshot(record)`` with ``extra`` fields added (e.g. a user's roles)."""
    result = snapshot(record)
    result.update(extra)
    return result
