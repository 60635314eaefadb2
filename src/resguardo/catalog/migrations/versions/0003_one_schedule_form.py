"""One schedule form: job schedules and category defaults move to the scheduler's form.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The catalog's first form (``every_days``, ``every_minutes``, ``weekdays`` as ``"sun"``, ``month_days``)
becomes the form of :mod:`resguardo.schedules` (docs/scheduling.md)::

    {"kind": "interval", "every_days": 1, "at": "01:00"}      -> {"kind": "daily", "at": "01:00", ...}
    {"kind": "interval", "every_days": 60, "at": "02:00"}     -> {"kind": "interval", "every": 60,
                                                                  "unit": "days", "start": ..., ...}
    {"kind": "interval", "every_minutes": 90}                 -> {... "every": 90, "unit": "minutes" ...}
    {"kind": "weekly", "weekdays": ["sun"], "at": "03:00"}    -> {... "weekdays": ["sunday"] ...}
    {"kind": "monthly", "month_days": [1, 15], "at": "01:00"} -> {... "days": [1, 15] ...}

A job's interval starts on the date its schedule took effect (``schedule_since``, else its creation) in
the schedule's time zone: the date the scheduler counted from until now, so no slot moves. A category's
default interval keeps no start (each new job anchors it). ``timezone`` and ``window`` are written out.
A document already in the new form is left as it is; one in neither form too (the scheduler names it).

The downgrade writes the first form back where it can say the same thing (dropping an interval's start:
the first form counts from when the schedule took effect) and refuses, naming every job and category
concerned, when one cannot be said in it: the last day of the month, an interval in minutes or hours
at a time of day other than 00:00, an interval longer than 366 days or shorter than a minute-based one
can be.

The conversion is written out here, not imported, so that this revision keeps doing what it did
whatever later versions of the package change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
OLD_MAX_INTERVAL_DAYS = 366
OLD_MAX_INTERVAL_MINUTES = 24 * 60 - 1
MINUTES_PER_UNIT = {"minutes": 1, "hours": 60}
DAYS_PER_UNIT = {"days": 1, "weeks": 7}

_JOBS = sa.table(
    "jobs",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("schedule", sa.Text),
    sa.column("schedule_since", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_CATEGORIES = sa.table(
    "categories",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("default_schedule", sa.Text),
)


class ScheduleNotExpressible(ValueError):
    """A schedule the first form cannot say; the message says why."""


def _dumps(document: dict[str, Any]) -> str:
    """Return ``document`` as the catalog stores JSON (sorted keys, no spaces)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _local_date(instant: datetime | None, zone_name: str) -> str:
    """Return the ISO date of ``instant`` (naive means UTC; None means now) in the zone ``zone_name``."""
    moment = instant or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date().isoformat()


def new_form(document: dict[str, Any], effective_since: datetime | None, *, anchored: bool) -> dict[str, Any]:
    """Return ``document`` in the new form (unchanged if it is not in the first form).

    Args:
        document: a stored schedule.
        effective_since: when the job's schedule took effect (for an interval's start).
        anchored: whether an interval gets a start (jobs) or not (category defaults).
    """
    kind = document.get("kind")
    old_interval = kind == "interval" and bool(document.get("every_days") or document.get("every_minutes"))
    old_weekly = kind == "weekly" and any(name not in WEEKDAYS for name in document.get("weekdays") or [])
    old_monthly = kind == "monthly" and "month_days" in document
    if not (old_interval or old_weekly or old_monthly):
        return document
    timezone = str(document.get("timezone") or "UTC")
    common = {"at": document.get("at", "00:00"), "timezone": timezone, "window": document.get("window")}
    if kind == "weekly":
        shorts = document["weekdays"]
        names = [full for full in WEEKDAYS if any(short in (full, full[:3]) for short in shorts)]
        return {"kind": "weekly", "weekdays": names, **common}
    if kind == "monthly":
        return {"kind": "monthly", "days": sorted(set(document["month_days"])), **common}
    if kind == "interval" and document.get("every_days") == 1:
        return {"kind": "daily", **common}
    start = {"start": _local_date(effective_since, timezone)} if anchored else {}
    return {"kind": "interval", **_every(document), **start, **common}


def _every(document: dict[str, Any]) -> dict[str, Any]:
    """Return ``every`` and ``unit`` of an interval in the first form."""
    if document.get("every_days"):
        return {"every": document["every_days"], "unit": "days"}
    return {"every": document["every_minutes"], "unit": "minutes"}


def first_form(document: dict[str, Any]) -> dict[str, Any]:
    """Return ``document`` (new form) in the first form.

    Raises:
        ScheduleNotExpressible: the first form cannot say it.
    """
    kind = document.get("kind")
    common: dict[str, Any] = {"at": document.get("at", "00:00"), "timezone": document.get("timezone", "UTC")}
    if document.get("window") is not None:
        common["window"] = document["window"]
    if kind == "daily":
        return {"kind": "interval", "every_days": 1, **common}
    if kind == "weekly":
        return {"kind": "weekly", "weekdays": [name[:3] for name in document["weekdays"]], **common}
    if kind == "monthly":
        if "last" in document["days"]:
            raise ScheduleNotExpressible("the first form has no 'last day of the month'")
        return {"kind": "monthly", "month_days": list(document["days"]), **common}
    if kind == "interval":
        return _first_form_interval(document, common)
    return document


def _first_form_interval(document: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """Return an interval (new form) in the first form. Raises ScheduleNotExpressible."""
    unit, every = document["unit"], document["every"]
    if unit in DAYS_PER_UNIT:
        days = every * DAYS_PER_UNIT[unit]
        if days > OLD_MAX_INTERVAL_DAYS:
            raise ScheduleNotExpressible(f"every {days} days is longer than the first form's 366")
        return {"kind": "interval", "every_days": days, **common}
    minutes = every * MINUTES_PER_UNIT[unit]
    if minutes > OLD_MAX_INTERVAL_MINUTES:
        raise ScheduleNotExpressible(f"every {minutes} minutes is a day or more: the first form stops below")
    if common["at"] != "00:00":
        raise ScheduleNotExpressible("the first form has no time of day for an interval in minutes")
    del common["at"]
    return {"kind": "interval", "every_minutes": minutes, **common}


def _conversions(
    table: sa.TableClause, column: str, convert: Callable[[sa.Row[Any]], dict[str, Any]]
) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    """Return (id, new JSON) of the rows of ``table`` whose ``column`` ``convert`` changes, and
    (name, why) of the rows it cannot convert."""
    changes, refused = [], []
    for row in op.get_bind().execute(sa.select(table)).all():
        try:
            stored = _dumps(convert(row))
        except ScheduleNotExpressible as error:
            refused.append((row.name, str(error)))
            continue
        if stored != getattr(row, column):
            changes.append((row.id, stored))
    return changes, refused


def _store(table: sa.TableClause, column: str, changes: list[tuple[int, str]]) -> None:
    """Write each (id, JSON) of ``changes`` into ``column`` of ``table``."""
    for row_id, stored in changes:
        op.get_bind().execute(sa.update(table).where(table.c.id == row_id).values({column: stored}))


def upgrade() -> None:
    """Convert every job's schedule and every category's default schedule to the new form."""
    categories, _ = _conversions(
        _CATEGORIES,
        "default_schedule",
        lambda row: new_form(json.loads(row.default_schedule), None, anchored=False),
    )
    jobs, _ = _conversions(
        _JOBS,
        "schedule",
        lambda row: new_form(json.loads(row.schedule), row.schedule_since or row.created_at, anchored=True),
    )
    _store(_CATEGORIES, "default_schedule", categories)
    _store(_JOBS, "schedule", jobs)


def downgrade() -> None:
    """Convert them back to the first form; refuse, changing nothing, if one cannot be said in it.

    Raises:
        RuntimeError: a schedule the first form cannot express; the message names each one.
    """
    categories, refused_categories = _conversions(
        _CATEGORIES, "default_schedule", lambda row: first_form(json.loads(row.default_schedule))
    )
    jobs, refused_jobs = _conversions(_JOBS, "schedule", lambda row: first_form(json.loads(row.schedule)))
    refused = [("category", *item) for item in refused_categories] + [("job", *item) for item in refused_jobs]
    if refused:
        names = "; ".join(f"{kind} {name!r}: {why}" for kind, name, why in refused)
        raise RuntimeError(
            f"cannot downgrade the catalog below revision 0003: {len(refused)} schedule(s) cannot be "
            f"written in the earlier form ({names}). Change them to a schedule the earlier version "
            "understands (e.g. a day number instead of the last day), then downgrade again."
        )
    _store(_CATEGORIES, "default_schedule", categories)
    _store(_JOBS, "schedule", jobs)
