"""Schedules of jobs as documents: when a job is due, and the window a run may start in (R9).

A schedule is stored as JSON text; :func:`parse_schedule` checks one and returns a :class:`Schedule`.
The kinds::

    {"kind": "interval", "every_days": 60, "at": "02:00"}     every 60 days at 02:00
    {"kind": "interval", "every_minutes": 90}                  every 90 minutes
    {"kind": "weekly", "weekdays": ["sun"], "at": "03:00"}     on the named weekdays
    {"kind": "monthly", "month_days": [1, 15], "at": "01:00"}  on those days of the month

Any kind may add ``"window": {"start": "22:00", "end": "06:00"}`` (a run does not start outside it; the
window may wrap past midnight) and ``"timezone": "America/Guayaquil"`` (times are read in that zone;
UTC when absent). Which moment is due next is the scheduler's business; this module only says what a
valid schedule is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resguardo.core.errors import ConfigurationError

KINDS = ("interval", "weekly", "monthly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVAL_DAYS = 366
_KEYS = {
    "interval": {"every_days", "every_minutes", "at"},
    "weekly": {"weekdays", "at"},
    "monthly": {"month_days", "at"},
}
_COMMON_KEYS = {"kind", "window", "timezone"}


@dataclass(frozen=True)
class Window:
    """The hours a run may start in; ``end`` before ``start`` wraps past midnight."""

    start: time
    end: time


@dataclass(frozen=True)
class Schedule:
    """A checked schedule; see the module's docstring for the meaning of each field."""

    kind: str
    every_days: int = 0
    every_minutes: int = 0
    at: time | None = None
    weekdays: tuple[str, ...] = ()
    month_days: tuple[int, ...] = ()
    window: Window | None = None
    timezone: str = "UTC"


def _fail(message: str) -> ConfigurationError:
    return ConfigurationError(f"invalid schedule: {message}", "see the schedule kinds in docs/catalog.md")


def _time_of(value: Any, field: str) -> time:
    """Return ``HH:MM`` as a time.

    Raises:
        ConfigurationError: it is not a time of day written HH:MM.
    """
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise _fail(f"{field} must be a time written HH:MM, not {value!r}")
    try:
        return time(int(value[:2]), int(value[3:]))
    except ValueError:
        raise _fail(f"{field} must be a time written HH:MM, not {value!r}") from None


def _positive_int(document: dict[str, Any], field: str, maximum: int) -> int:
    value = document.get(field, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise _fail(f"{field} must be a whole number from 1 to {maximum}")
    return value


def _interval(document: dict[str, Any]) -> dict[str, Any]:
    days = _positive_int(document, "every_days", MAX_INTERVAL_DAYS)
    minutes = _positive_int(document, "every_minutes", 24 * 60 - 1)
    if (days > 0) == (minutes > 0):
        raise _fail("an interval gives either every_days or every_minutes (one of them, above 0)")
    if minutes and "at" in document:
        raise _fail("'at' goes with every_days, not with every_minutes")
    return {"every_days": days, "every_minutes": minutes}


def _weekly(document: dict[str, Any]) -> dict[str, Any]:
    weekdays = document.get("weekdays")
    if not isinstance(weekdays, list) or not weekdays or any(day not in WEEKDAYS for day in weekdays):
        raise _fail(f"weekdays must be a non-empty list of {', '.join(WEEKDAYS)}")
    return {"weekdays": tuple(sorted(set(weekdays), key=WEEKDAYS.index))}


def _monthly(document: dict[str, Any]) -> dict[str, Any]:
    days = document.get("month_days")
    if not isinstance(days, list) or not days:
        raise _fail("month_days must be a non-empty list of days from 1 to 31")
    if not all(isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 31 for day in days):
        raise _fail("month_days must be a non-empty list of days from 1 to 31")
    return {"month_days": tuple(sorted(set(days)))}


def parse_schedule(document: Any) -> Schedule:
    """Return the schedule ``document`` describes.

    Raises:
        ConfigurationError: the document is not a valid schedule; the message names the field.
    """
    if not isinstance(document, dict) or document.get("kind") not in KINDS:
        raise _fail(f"'kind' must be one of {', '.join(KINDS)}")
    kind = document["kind"]
    unknown = set(document) - _COMMON_KEYS - _KEYS[kind]
    if unknown:
        raise _fail(f"unknown field(s) for a {kind} schedule: {', '.join(sorted(unknown))}")
    fields = {"interval": _interval, "weekly": _weekly, "monthly": _monthly}[kind](document)
    at = _time_of(document["at"], "at") if "at" in document else None
    if kind != "interval" and at is None:
        raise _fail(f"a {kind} schedule needs 'at' (HH:MM)")
    if kind == "interval" and fields["every_days"] and at is None:
        at = time(0, 0)
    return Schedule(
        kind=kind, at=at, window=_window(document.get("window")), timezone=_zone(document), **fields
    )


def _window(value: Any) -> Window | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise _fail('window must be {"start": "HH:MM", "end": "HH:MM"}')
    window = Window(_time_of(value["start"], "window.start"), _time_of(value["end"], "window.end"))
    if window.start == window.end:
        raise _fail("window.start and window.end must differ")
    return window


def _zone(document: dict[str, Any]) -> str:
    name = document.get("timezone", "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _fail(f"unknown timezone {name!r}") from None
    return str(name)


def validated_schedule(document: Any) -> dict[str, Any]:
    """Return ``document`` after checking it is a valid schedule (unchanged, ready to store).

    Raises:
        ConfigurationError: the document is not a valid schedule.
    """
    parse_schedule(document)
    return dict(document)
